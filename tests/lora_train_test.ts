/**
 * Issue 14: `deno task train` with `lora.r` > 0 — the run folder's `policy/` holds PEFT's
 * adapter files naming the base, `policy-merged/` a full model computing what base + adapter
 * compute; checkpoints hold the adapters and their optimizer state only; a stopped run resumes
 * to the uninterrupted run's metrics.
 */
import assert from "node:assert/strict";
import { initBackend } from "../models/backend.ts";
import { loadCausalLM } from "../models/checkpoint.ts";
import { gpt2WeightShapes } from "../models/gpt2.ts";
import { loadLoraAdapters, T5_LORA_LAYOUT } from "../models/lora.ts";
import { readSafetensors } from "../models/safetensors.ts";
import { loadSeq2SeqLM } from "../models/t5_checkpoint.ts";
import { t5WeightShapes } from "../models/t5_config.ts";

const root = new URL("..", import.meta.url).pathname;
const TIMING = new Set(["seconds", "tokens_per_s"]);

async function train(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "cli/train.ts", ...args],
    cwd: root,
    env: { NO_COLOR: "1", ...env },
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  return stderr;
}

const metrics = async (dir: string) =>
  (await Deno.readTextFile(`${dir}/metrics.jsonl`)).trim().split("\n").map((l) =>
    Object.fromEntries(Object.entries(JSON.parse(l)).filter(([k]) => !TIMING.has(k)))
  );

Deno.test("train with LoRA: adapter and merged folders, small checkpoints, resume", async () => {
  await initBackend();
  const dir = await Deno.makeTempDir({ prefix: "rlgf-lora-train-" });
  try {
    await Deno.writeTextFile(
      `${dir}/lora.json`,
      JSON.stringify({ lora: { r: 4, alpha: 8, targetModules: ["c_attn", "c_proj"] } }),
    );
    const args = [
      "--preset",
      "toy",
      "--algo",
      "ppo",
      "--iterations",
      "8",
      "--seed",
      "2",
      "--config",
      `${dir}/lora.json`,
    ];
    await train([...args, "--out", `${dir}/whole`]);
    const run = `${dir}/whole`;
    // policy/: PEFT's adapter, its base an absolute folder (written into the run: the toy
    // learner comes from no folder)
    const adapterConfig = JSON.parse(await Deno.readTextFile(`${run}/policy/adapter_config.json`));
    assert.equal(adapterConfig.peft_type, "LORA");
    assert.equal(adapterConfig.r, 4);
    assert.equal(adapterConfig.base_model_name_or_path, `${await Deno.realPath(run)}/base`);
    const base = await loadCausalLM(adapterConfig.base_model_name_or_path);
    const { adapters } = await loadLoraAdapters(`${run}/policy`, gpt2WeightShapes(base.config));
    const adapted = base.withLora(adapters);
    const merged = await loadCausalLM(`${run}/policy-merged`);
    const layers = base.config.nLayer;
    const prompt = [[1, 2, 3, 4]];
    const [a] = await adapted.logits(prompt);
    const [m] = await merged.logits(prompt);
    const [b] = await base.logits(prompt);
    const worst = Math.max(...a.flatMap((row, t) => row.map((v, j) => Math.abs(v - m[t][j]))));
    assert.ok(worst < 1e-5, `merged vs base + adapter: ${worst}`);
    assert.ok(a.some((row, t) => row.some((v, j) => Math.abs(v - b[t][j]) > 1e-3)), "it trained");
    adapted.dispose();
    base.dispose();
    merged.dispose();
    // a checkpoint's train state: the learner's, reference's and critics' adapters (+ heads),
    // the optimizers' moments for those alone
    const checkpoints = [...Deno.readDirSync(`${run}/checkpoints`)].map((e) => e.name).sort();
    const state = await readSafetensors(
      `${run}/checkpoints/${checkpoints.at(-1)}/state.safetensors`,
    );
    const learner = [...state.keys()].filter((k) => k.startsWith("learner/"));
    assert.equal(learner.length, layers * 3 * 2); // (c_attn, attn.c_proj, mlp.c_proj) × (A, B)
    assert.ok(
      [...Deno.readDirSync(`${run}/checkpoints/${checkpoints.at(-1)}/policy`)].some((e) =>
        e.name === "adapter_model.safetensors"
      ),
    );
    // killed after a checkpoint and resumed: the uninterrupted run's metrics
    const killed = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "cli/train.ts", ...args, "--out", `${dir}/killed`],
      cwd: root,
      stdout: "null",
      stderr: "null",
    }).spawn();
    const deadline = Date.now() + 60_000;
    const logged = () =>
      Deno.readTextFile(`${dir}/killed/metrics.jsonl`).then((t) => t.trim().split("\n").length)
        .catch(() => 0);
    while ((await logged()) < 3 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    killed.kill("SIGKILL");
    assert.notEqual((await killed.status).code, 0, "killed before it finished");
    await train(["--resume", `${dir}/killed`]);
    assert.deepEqual(await metrics(`${dir}/killed`), await metrics(run));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A tiny CommonGen folder: 6 train and 2 validation concept sets. */
async function tinyCommonGen(dir: string): Promise<string> {
  const sets: [string[], string][] = [
    [["ski", "mountain", "skier"], "A skier skis down the mountain."],
    [["dog", "frisbee", "catch"], "The dog catches a frisbee."],
    [["cat", "sofa", "sleep"], "A cat sleeps on the sofa."],
    [["bike", "road", "ride"], "A man rides a bike on the road."],
    [["ball", "kick", "field"], "A boy kicks a ball on the field."],
    [["tree", "climb", "boy"], "A boy climbs a tree."],
  ];
  const lines = (rows: [string[], string][], offset: number) =>
    rows.map(([concepts, target], i) =>
      JSON.stringify({ concept_set_idx: offset + i, concepts, target }) + "\n"
    ).join("");
  await Deno.mkdir(`${dir}/commongen`, { recursive: true });
  await Deno.writeTextFile(`${dir}/commongen/train.jsonl`, lines(sets, 0));
  await Deno.writeTextFile(`${dir}/commongen/validation.jsonl`, lines(sets.slice(0, 2), 100));
  await Deno.writeTextFile(`${dir}/commongen/test.jsonl`, lines(sets.slice(2, 4), 200));
  return dir;
}

Deno.test("train a T5 with LoRA (commongen-small, tiny): PEFT seq2seq adapter, merged folder", async () => {
  await initBackend();
  const dir = await Deno.makeTempDir({ prefix: "rlgf-t5-lora-train-" });
  try {
    const data = await tinyCommonGen(`${dir}/data`);
    await Deno.writeTextFile(
      `${dir}/config.json`,
      JSON.stringify({
        task: { dataDir: data, evalRecords: 2 },
        policy: { vocabSize: 300, nEmbd: 16, nLayer: 1, nHead: 2, nInner: 32, pretrainSteps: 3 },
        guide: { bcSteps: 3, bcLearningRate: 1e-2 },
        evaluation: { numBeams: 1 },
        // PEFT's T5 default targets (q, v) when targetModules is left null
        lora: { r: 4, alpha: 8 },
        train: { trajectoriesPerUpdate: 8, learningRate: 1e-2, learner: { minibatchSize: 8 } },
      }),
    );
    const run = `${dir}/run`;
    await train(
      [
        "--preset",
        "commongen-small",
        "--iterations",
        "2",
        "--config",
        `${dir}/config.json`,
        "--out",
        run,
      ],
      { RLGF_CACHE_DIR: `${dir}/cache` },
    );
    const adapterConfig = JSON.parse(await Deno.readTextFile(`${run}/policy/adapter_config.json`));
    assert.equal(adapterConfig.task_type, "SEQ_2_SEQ_LM");
    assert.equal(adapterConfig.fan_in_fan_out, false);
    assert.deepEqual(adapterConfig.target_modules, ["q", "v"]);
    const base = await loadSeq2SeqLM(adapterConfig.base_model_name_or_path);
    const { adapters } = await loadLoraAdapters(
      `${run}/policy`,
      t5WeightShapes(base.config),
      T5_LORA_LAYOUT,
    );
    assert.ok(
      [...adapters.pairs.keys()].some((p) => p.endsWith("EncDecAttention.q")),
      "cross-attention q is adapted too",
    );
    const adapted = base.withLora(adapters);
    const merged = await loadSeq2SeqLM(`${run}/policy-merged`);
    const source = [[5, 6, 7, 8]], target = [[base.config.decoderStartTokenId, 9, 10]];
    const [a] = await adapted.logits(source, target);
    const [m] = await merged.logits(source, target);
    const [b] = await base.logits(source, target);
    const worst = Math.max(...a.flatMap((row, t) => row.map((v, j) => Math.abs(v - m[t][j]))));
    assert.ok(worst < 1e-5, `merged vs base + adapter: ${worst}`);
    assert.ok(a.some((row, t) => row.some((v, j) => Math.abs(v - b[t][j]) > 1e-4)), "it trained");
    adapted.dispose();
    base.dispose();
    merged.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

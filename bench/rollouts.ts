/**
 * `deno task bench:rollouts [--model DIR] [--servers 0,1,2,4] [--rows N] [--iterations N]`: the
 * remote roll-out route against the local one, on a LoRA learner (r 16 on c_attn) of a GPT-2
 * folder. An iteration is what a training iteration does: the adapter written and loaded on
 * every server when it changed, `rows` seeded roll-outs of `--new-tokens` tokens after random
 * prompts of `--prompt-tokens`, then the trainer's side: the learner scores the batch and takes
 * one AdamW step on it. 0 servers is the local route (ONNX Runtime in this process); N servers
 * are `deno task serve --enable-lora` processes on 127.0.0.1. Reports the seconds of each part
 * per iteration (after one warm-up iteration). Writes bench/results/rollouts.md and .json.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { writeFileAtomic, writeJsonAtomic } from "../core/atomic.ts";
import { cpuModelName } from "../core/machine.ts";
import { Rng } from "../core/prng.ts";
import { commandFlags, integerFlag } from "../cli/flags.ts";
import { adapterPublisher } from "../cli/rollout_sync.ts";
import { initBackend } from "../models/backend.ts";
import { loadCausalLM } from "../models/checkpoint.ts";
import { gpt2WeightShapes } from "../models/gpt2.ts";
import { createLoraAdapters } from "../models/lora.ts";
import { loraGraphSpec, OnnxAcceleratedLM, OnnxGpt2Engine } from "../models/engine/mod.ts";
import { RemoteGenerator } from "../models/remote_rollouts.ts";
import type { TokenGenerator } from "../models/types.ts";
import { AdamW } from "../stages/adamw.ts";
import { startServer } from "./serve.ts";

const HELP = `Usage: deno task bench:rollouts [options]

  --model DIR          a GPT-2 folder with its tokenizer (default assets/imdb-base)
  --servers LIST       serve processes per configuration; 0 = the local route (default 0,1,2,4)
  --rows N             roll-outs per iteration (default 64)
  --prompt-tokens N    prompt length (default 64)
  --new-tokens N       tokens sampled per roll-out (default 48)
  --iterations N       timed iterations per configuration, after one warm-up (default 3)
  --out PATH           results without extension (default bench/results/rollouts)
  -h, --help           this text`;

/** One configuration's mean seconds per iteration. */
interface Result {
  servers: number;
  adapterSync: number;
  rollout: number;
  trainer: number;
  iteration: number;
  tokensPerSecond: number;
}

async function measure(
  dir: string,
  servers: number,
  shape: { rows: number; promptTokens: number; newTokens: number; iterations: number },
): Promise<Result> {
  const model = await loadCausalLM(dir);
  const adapters = createLoraAdapters(gpt2WeightShapes(model.config), {
    r: 16,
    alpha: 32,
    dropout: 0,
    targetModules: ["c_attn"],
  }, new Rng(1));
  const learner = model.withLora(adapters);
  model.dispose(); // the view holds the base
  const engine = await OnnxGpt2Engine.create(learner.config, {
    gradients: true,
    lora: loraGraphSpec(adapters),
  });
  const fast = new OnnxAcceleratedLM(learner, engine);
  const variables = learner.trainableVariables();
  const optimizer = new AdamW(variables, { learningRate: 1e-4, weightDecay: 0 });
  const work = await Deno.makeTempDir({ prefix: "rlgf-bench-rollouts-" });
  const running = await Promise.all(
    Array.from({ length: servers }, () => startServer(dir, ["--enable-lora"])),
  );
  const remote = servers === 0 ? null : new RemoteGenerator({
    servers: running.map((s) => s.baseUrl),
    model: "bench",
    concurrency: shape.rows,
    adapters: adapterPublisher(learner, work, await Deno.realPath(dir)),
  });
  const sampler: TokenGenerator = remote ?? fast;
  const rng = new Rng(2);
  const vocab = learner.config.vocabSize;
  const totals = { adapterSync: 0, rollout: 0, trainer: 0 };
  try {
    for (let i = 0; i <= shape.iterations; i++) {
      const prompts = Array.from(
        { length: shape.rows },
        () => Array.from({ length: shape.promptTokens }, () => rng.int(vocab)),
      );
      const start = performance.now();
      await remote?.sync(); // write the adapter, load it on every server
      const t0 = performance.now();
      const continuations = await sampler.generate(prompts, {
        maxNewTokens: shape.newTokens,
        doSample: true,
        eosTokenId: null,
        seeds: prompts.map(() => rng.int(2 ** 31)),
      });
      const t1 = performance.now();
      // the trainer: old log-probs, then one gradient step on the batch
      await fast.continuationLogProbs(prompts, continuations);
      const { value, grads } = tf.variableGrads(() => {
        const out = fast.forwardContinuation(prompts, continuations);
        out.hidden.dispose();
        return tf.neg(tf.mean(out.logProbs)) as tf.Scalar;
      }, variables);
      optimizer.step(variables.map((v) => grads[v.name]), { maxGradNorm: 1 });
      tf.dispose([value, ...Object.values(grads)]);
      const t2 = performance.now();
      if (i === 0) continue; // warm-up: sessions, arenas, the first adapter load
      totals.adapterSync += (t0 - start) / 1000;
      totals.rollout += (t1 - t0) / 1000;
      totals.trainer += (t2 - t1) / 1000;
    }
  } finally {
    await remote?.close();
    await Promise.all(running.map((s) => s.stop()));
    await engine.dispose();
    optimizer.dispose();
    learner.dispose();
    await Deno.remove(work, { recursive: true });
  }
  const per = (x: number) => x / shape.iterations;
  const iteration = per(totals.adapterSync + totals.rollout + totals.trainer);
  return {
    servers,
    adapterSync: per(totals.adapterSync),
    rollout: per(totals.rollout),
    trainer: per(totals.trainer),
    iteration,
    tokensPerSecond: (shape.rows * shape.newTokens) / per(totals.rollout),
  };
}

if (import.meta.main) {
  const values = commandFlags(Deno.args, {
    model: { type: "string" },
    servers: { type: "string" },
    rows: { type: "string" },
    "prompt-tokens": { type: "string" },
    "new-tokens": { type: "string" },
    iterations: { type: "string" },
    out: { type: "string" },
  }, HELP);
  await initBackend();
  const dir = values.model ?? "assets/imdb-base";
  const servers = (values.servers ?? "0,1,2,4").split(",").map((s) =>
    integerFlag("--servers", s, 0)!
  );
  const shape = {
    rows: integerFlag("--rows", values.rows, 1) ?? 64,
    promptTokens: integerFlag("--prompt-tokens", values["prompt-tokens"], 1) ?? 64,
    newTokens: integerFlag("--new-tokens", values["new-tokens"], 1) ?? 48,
    iterations: integerFlag("--iterations", values.iterations, 1) ?? 3,
  };
  const results: Result[] = [];
  for (const n of servers) {
    const result = await measure(dir, n, shape);
    console.error(JSON.stringify(result));
    results.push(result);
  }
  const out = values.out ?? "bench/results/rollouts";
  const cpu = await cpuModelName();
  const s = (x: number) => x.toFixed(2);
  const local = results.find((r) => r.servers === 0);
  const md = [
    "# bench:rollouts",
    "",
    `\`deno task bench:rollouts\` on ${
      new Date().toISOString().slice(0, 10)
    }: ${cpu}, ${navigator.hardwareConcurrency} cores, Deno ${Deno.version.deno}.`,
    `Model ${dir} with LoRA r 16 on c_attn; per iteration ${shape.rows} roll-outs of ${shape.newTokens} tokens after ${shape.promptTokens}-token prompts, then the trainer's scoring and one AdamW step on them; mean of ${shape.iterations} iterations after a warm-up. 0 servers = the local route; N = \`deno task serve --enable-lora\` processes on 127.0.0.1 (on this one machine, so they share its cores with the trainer).`,
    "",
    "| servers | adapter sync s | roll-out s | trainer s | iteration s | roll-out tokens/s | vs local |",
    "|---:|---:|---:|---:|---:|---:|---:|",
    ...results.map((r) =>
      `| ${r.servers === 0 ? "local" : r.servers} | ${s(r.adapterSync)} | ${s(r.rollout)} | ${
        s(r.trainer)
      } | ${s(r.iteration)} | ${r.tokensPerSecond.toFixed(0)} | ${
        local ? (local.iteration / r.iteration).toFixed(2) + "x" : "-"
      } |`
    ),
    "",
  ].join("\n");
  await writeFileAtomic(`${out}.md`, md);
  await writeJsonAtomic(`${out}.json`, { cpu, dir, shape, results });
  console.log(md);
}

/**
 * Issue 18: the imdb-llama preset (a Llama-family policy from a folder, LoRA on its seven
 * projections, D2LOLS with a BC guide) trains end to end on the engine, and Llama prompts are
 * framed as Hugging Face frames them (the tokenizer's BOS, or the chat template's turn).
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { ConfigError, InputError } from "../core/errors.ts";
import { initBackend } from "../models/backend.ts";
import { decodeSafetensors } from "../models/safetensors.ts";
import { loadTokenizer } from "../models/tokenizer.ts";
import { promptIds } from "../models/types.ts";
import { tinyImdb } from "../tests/_tiny_data.ts";
import { resolveConfig } from "./config.ts";
import { buildSetup } from "./setup.ts";
import { train } from "./train.ts";

await initBackend();

const FIXTURES = new URL("../tests/fixtures", import.meta.url).pathname;
const SENTIMENT = `${FIXTURES}/tiny-sentiment-onnx`;
// SmolLM2's template (ChatML), and what apply_chat_template renders for one user turn
const CHATML = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + " +
  "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}" +
  "{{ '<|im_start|>assistant\\n' }}{% endif %}";

/**
 * A copy of the tiny-llama fixture whose tokenizer starts every sequence with BOS (as Llama's
 * TemplateProcessing does) and carries a chat template.
 */
async function llamaFolder(root: string): Promise<string> {
  const dir = `${root}/tiny-llama`;
  await Deno.mkdir(dir, { recursive: true });
  for (const name of ["config.json", "model.safetensors", "generation_config.json"]) {
    await Deno.copyFile(`${FIXTURES}/tiny-llama/${name}`, `${dir}/${name}`);
  }
  const tokenizer = JSON.parse(await Deno.readTextFile(`${FIXTURES}/tiny-llama/tokenizer.json`));
  const bos = "<|endoftext|>";
  tokenizer.post_processor = {
    type: "Sequence",
    processors: [tokenizer.post_processor, {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [
        { SpecialToken: { id: bos, type_id: 0 } },
        { Sequence: { id: "A", type_id: 0 } },
        { Sequence: { id: "B", type_id: 1 } },
      ],
      special_tokens: { [bos]: { id: bos, ids: [50256], tokens: [bos] } },
    }],
  };
  await Deno.writeTextFile(`${dir}/tokenizer.json`, JSON.stringify(tokenizer));
  const config = JSON.parse(
    await Deno.readTextFile(`${FIXTURES}/tiny-llama/tokenizer_config.json`),
  );
  await Deno.writeTextFile(
    `${dir}/tokenizer_config.json`,
    JSON.stringify({ ...config, add_bos_token: true, chat_template: CHATML }),
  );
  return dir;
}

Deno.test("a tokenizer that starts sequences with BOS frames every prompt; truncation keeps it", async () => {
  const root = await Deno.makeTempDir();
  try {
    const tokenizer = await loadTokenizer(await llamaFolder(root));
    assert.deepEqual(tokenizer.promptFrame, { before: [50256], after: [] });
    // the fixture's GPT-2 ids of "The quick brown fox": [464, 2068, 7586, 21831]
    assert.deepEqual(promptIds(tokenizer, "The quick brown fox"), [50256, 464, 2068, 7586, 21831]);
    assert.deepEqual(promptIds(tokenizer, "The quick brown fox", 3), [50256, 7586, 21831]);
    // GPT-2's own tokenizer adds nothing: its prompts are their ids
    const gpt2 = await loadTokenizer(`${FIXTURES}/tiny-gpt2`);
    assert.equal(gpt2.promptFrame, undefined);
    assert.deepEqual(promptIds(gpt2, "The quick brown fox", 3), [2068, 7586, 21831]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("withChatTemplate(): prompts become one user turn as apply_chat_template renders it", async () => {
  const root = await Deno.makeTempDir();
  try {
    const tokenizer = await loadTokenizer(await llamaFolder(root));
    const chat = tokenizer.withChatTemplate();
    const rendered = "<|im_start|>user\nThe quick brown fox<|im_end|>\n<|im_start|>assistant\n";
    assert.deepEqual(promptIds(chat, "The quick brown fox"), tokenizer.encode(rendered));
    // truncation cuts the user's text, never the turn markers
    const kept = promptIds(
      chat,
      "The quick brown fox",
      chat.promptFrame!.before.length +
        chat.promptFrame!.after.length + 2,
    );
    assert.deepEqual(
      kept,
      tokenizer.encode("<|im_start|>user\n brown fox<|im_end|>\n<|im_start|>assistant\n"),
    );
    // a tokenizer without a template says where one is missing
    const plain = await loadTokenizer(`${FIXTURES}/tiny-llama`);
    assert.throws(
      () => plain.withChatTemplate(),
      (e: Error) => e instanceof InputError && e.message.includes("tokenizer_config.json"),
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

/** The preset shrunk to seconds: a tiny model, 2 iterations of 8 roll-outs, a 4-step BC guide. */
function tinyRun(policyDir: string, dataDir: string, extra: Record<string, unknown> = {}) {
  return {
    task: { dataDir, evalRecords: 4 },
    policy: { dir: policyDir },
    reward: { kind: "onnx", path: SENTIMENT },
    guide: { bcSteps: 4 },
    train: {
      iterations: 2,
      trajectoriesPerUpdate: 8,
      maxPromptTokens: 12,
      generation: { maxNewTokens: 6, minNewTokens: 6 },
      learner: { epochs: 1, minibatchSize: 8 },
      d2lols: { switchIteration: 1 },
    },
    ...extra,
  };
}

Deno.test("imdb-llama trains a LoRA Llama learner with D2LOLS and writes PEFT's adapter folder", async () => {
  const env = await tinyImdb();
  const root = await Deno.makeTempDir();
  try {
    const policyDir = await llamaFolder(root);
    await Deno.writeTextFile(`${root}/run.json`, JSON.stringify(tinyRun(policyDir, env.dataDir)));
    const tensors = tf.memory().numTensors;
    const runDir = await train([
      "--preset",
      "imdb-llama",
      "--config",
      `${root}/run.json`,
      "--out",
      `${root}/run`,
    ]);
    assert.equal(runDir, `${root}/run`);
    assert.equal(tf.memory().numTensors, tensors, "tensors leaked");
    const rows: Record<string, unknown>[] = JSON.parse(
      await Deno.readTextFile(`${root}/run/evaluation.json`),
    );
    assert.deepEqual(rows.map((r) => r.model), ["learner (trained)", "zero-shot", "BC guide"]);
    for (const row of rows) {
      assert.ok(Number.isFinite(row["sentiment/mean"]), JSON.stringify(row));
      assert.ok(Number.isFinite(row["fluency/output_perplexity"]), JSON.stringify(row));
    }
    const metrics = (await Deno.readTextFile(`${root}/run/metrics.jsonl`)).trim().split("\n")
      .map((line) => JSON.parse(line));
    assert.deepEqual(metrics.map((m) => m.phase), ["aggrevated", "ppo++"]);
    const adapter = JSON.parse(await Deno.readTextFile(`${root}/run/policy/adapter_config.json`));
    assert.equal(adapter.r, 16);
    assert.deepEqual(
      [...adapter.target_modules].sort(),
      ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"],
    );
    const names = [
      ...decodeSafetensors(
        await Deno.readFile(`${root}/run/policy/adapter_model.safetensors`),
        "adapter_model.safetensors",
      ).keys(),
    ];
    assert.ok(names.includes("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"));
    assert.ok(names.includes("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"));
  } finally {
    await env.cleanup();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("imdb-llama: a T5 policy folder and the tfjs engine are errors naming the cause", async () => {
  const env = await tinyImdb();
  const root = await Deno.makeTempDir();
  try {
    const setup = (values: Record<string, unknown>) =>
      buildSetup(resolveConfig("imdb-llama", [{ source: "test", values }]));
    await assert.rejects(
      setup(tinyRun(`${FIXTURES}/tiny-t5`, env.dataDir)),
      (e: Error) =>
        e instanceof InputError && e.message.includes("tiny-t5/config.json") &&
        e.message.includes("decoder-only"),
    );
    const policyDir = await llamaFolder(root);
    await assert.rejects(
      setup(tinyRun(policyDir, env.dataDir, { engine: "tfjs", guide: { kind: "none" } })),
      (e: Error) => e instanceof ConfigError && e.message.includes("engine"),
    );
  } finally {
    await env.cleanup();
    await Deno.remove(root, { recursive: true });
  }
});

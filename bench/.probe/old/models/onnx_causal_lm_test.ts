import assert from "node:assert/strict";
import { Rng } from "../core/prng.ts";
import { InputError } from "../core/errors.ts";
import { loadOnnxCausalLM } from "./onnx_causal_lm.ts";

const dir = new URL("../tests/fixtures/tiny-gpt2-onnx", import.meta.url).pathname;
const reference = JSON.parse(await Deno.readTextFile(`${dir}/greedy_reference.json`)) as {
  greedy: {
    prompt_ids: number[];
    max_new_tokens: number;
    new_ids: number[];
    new_token_logprobs: number[];
  }[];
};

Deno.test("OnnxCausalLM greedy continuations equal the PyTorch reference, alone and batched", async () => {
  const model = await loadOnnxCausalLM(dir);
  for (const c of reference.greedy) {
    const [out] = await model.generate([c.prompt_ids], {
      maxNewTokens: c.max_new_tokens,
      eosTokenId: null,
    });
    assert.deepEqual(out, c.new_ids);
  }
  const batched = await model.generate(reference.greedy.map((c) => c.prompt_ids), {
    maxNewTokens: reference.greedy[0].max_new_tokens,
    eosTokenId: null,
  });
  assert.deepEqual(batched, reference.greedy.map((c) => c.new_ids));
});

Deno.test("OnnxCausalLM.continuationLogProbs() matches the reference log-probs", async () => {
  const model = await loadOnnxCausalLM(dir);
  const logProbs = await model.continuationLogProbs(
    reference.greedy.map((c) => c.prompt_ids),
    reference.greedy.map((c) => c.new_ids),
  );
  reference.greedy.forEach((c, b) => {
    c.new_token_logprobs.forEach((expected, t) => {
      assert.ok(
        Math.abs(logProbs[b][t] - expected) < 2e-4,
        `row ${b} token ${t}: ${logProbs[b][t]} vs ${expected}`,
      );
    });
  });
});

Deno.test("OnnxCausalLM sampling is reproducible by seed and honours per-row lengths", async () => {
  const model = await loadOnnxCausalLM(dir);
  const prompts = reference.greedy.map((c) => c.prompt_ids);
  const options = { maxNewTokens: [3, 6], doSample: true, topK: 50, eosTokenId: null };
  const a = await model.generate(prompts, { ...options, rng: new Rng(5) });
  const b = await model.generate(prompts, { ...options, rng: new Rng(5) });
  assert.deepEqual(a, b);
  assert.deepEqual(a.map((row) => row.length), [3, 6]);
});

Deno.test("loadOnnxCausalLM() names the missing file", async () => {
  const empty = await Deno.makeTempDir();
  await assert.rejects(
    () => loadOnnxCausalLM(empty),
    (e: Error) => e instanceof InputError && e.message.includes("config.json"),
  );
  await Deno.writeTextFile(
    `${empty}/config.json`,
    JSON.stringify({
      n_embd: 8,
      n_head: 2,
      n_layer: 1,
      vocab_size: 10,
      eos_token_id: 9,
      n_positions: 16,
    }),
  );
  await assert.rejects(
    () => loadOnnxCausalLM(empty),
    (e: Error) => e instanceof InputError && e.message.includes("onnx/model.onnx"),
  );
  await Deno.remove(empty, { recursive: true });
});

Deno.test("OnnxCausalLM (transformers.js) greedy continuations equal our tfjs GPT-2's on the same weights", async () => {
  const { loadCausalLM } = await import("./checkpoint.ts");
  const { initBackend } = await import("./backend.ts");
  await initBackend("wasm");
  const tfjs = await loadCausalLM(new URL("../tests/fixtures/tiny-gpt2", import.meta.url).pathname);
  const onnx = await loadOnnxCausalLM(dir);
  try {
    const prompts = [...reference.greedy.map((c) => c.prompt_ids), [464, 3290], [
      11,
      12,
      13,
      14,
      15,
      16,
      17,
    ]];
    const options = { maxNewTokens: 16, eosTokenId: null };
    assert.deepEqual(await onnx.generate(prompts, options), await tfjs.generate(prompts, options));
  } finally {
    tfjs.dispose();
  }
});

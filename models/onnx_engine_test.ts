import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { Rng } from "../core/prng.ts";
import { initBackend } from "./backend.ts";
import { loadCausalLM } from "./checkpoint.ts";
import { createGPT2 } from "./gpt2.ts";
import { OnnxAcceleratedLM, OnnxAcceleratedValueModel, OnnxGpt2Engine } from "./engine/mod.ts";
import { createValueModel } from "./value.ts";

await initBackend("wasm");
const fixture = new URL("../tests/fixtures/tiny-gpt2-onnx", import.meta.url).pathname;
const reference = JSON.parse(await Deno.readTextFile(`${fixture}/greedy_reference.json`)) as {
  greedy: {
    prompt_ids: number[];
    max_new_tokens: number;
    new_ids: number[];
    new_token_logprobs: number[];
  }[];
};
const tinyGpt2 = new URL("../tests/fixtures/tiny-gpt2", import.meta.url).pathname;

Deno.test("OnnxGpt2Engine greedy decoding equals the PyTorch reference on the tiny-gpt2 fixture", async () => {
  const model = await loadCausalLM(tinyGpt2);
  const engine = await OnnxGpt2Engine.create(model.config);
  const out = await engine.generate(model, reference.greedy.map((c) => c.prompt_ids), {
    maxNewTokens: reference.greedy[0].max_new_tokens,
    eosTokenId: null,
  });
  assert.deepEqual(out, reference.greedy.map((c) => c.new_ids));
  model.dispose();
});

Deno.test("OnnxGpt2Engine log-probs match the float64 reference and the tfjs model", async () => {
  const model = await loadCausalLM(tinyGpt2);
  const engine = await OnnxGpt2Engine.create(model.config);
  const prompts = reference.greedy.map((c) => c.prompt_ids);
  const continuations = reference.greedy.map((c) => c.new_ids);
  const ours = await engine.score(model, prompts, continuations);
  const tfjs = await model.continuationLogProbs(prompts, continuations);
  reference.greedy.forEach((c, b) =>
    c.new_token_logprobs.forEach((expected, t) => {
      const [onnx, js] = [ours.logProbs[b][t], tfjs[b][t]];
      // The reference is rounded to 6 significant digits (|x| < 10 here: 1e-5 or finer).
      assert.ok(
        Math.abs(onnx - expected) < 5e-5,
        `row ${b} token ${t}: onnx ${onnx} vs ${expected}`,
      );
      assert.ok(Math.abs(onnx - js) < 2e-4, `row ${b} token ${t}: onnx ${onnx} vs tfjs ${js}`);
    })
  );
  model.dispose();
});

Deno.test("OnnxGpt2Engine follows the learner's weights after an update", async () => {
  const rng = new Rng(3);
  const model = createGPT2(
    { vocabSize: 32, nPositions: 32, nEmbd: 16, nLayer: 2, nHead: 2 },
    rng.child("init"),
  );
  const engine = await OnnxGpt2Engine.create(model.config);
  const prompts = [[1, 2, 3], [4]];
  const continuations = [[5, 6], [7, 8, 9]];
  const before = await engine.score(model, prompts, continuations);
  const wte = model.weights.get("wte.weight")!;
  tf.tidy(() => wte.assign(tf.mul(wte, 1.5)));
  const after = await engine.score(model, prompts, continuations);
  const tfjs = await model.continuationLogProbs(prompts, continuations);
  assert.notDeepEqual(after.logProbs, before.logProbs);
  tfjs.forEach((row, b) =>
    row.forEach((x, t) => assert.ok(Math.abs(after.logProbs[b][t] - x) < 1e-4))
  );
  model.dispose();
});

// top-k 8 samples from the logits on both routes; the whole vocabulary (0) from the engine's
// softmax against tfjs's JavaScript exponentials: the same draws unless one lands within float
// rounding of a boundary
for (const topK of [8, 0]) {
  Deno.test(`OnnxAcceleratedLM samples exactly as the tfjs model for one seed (top-k ${topK})`, async () => {
    const model = createGPT2(
      { vocabSize: 24, nPositions: 40, nEmbd: 16, nLayer: 1, nHead: 2 },
      new Rng(9),
    );
    const engine = await OnnxGpt2Engine.create(model.config);
    const fast = new OnnxAcceleratedLM(model, engine);
    const prompts = [[1, 2, 3, 4], [5, 6]];
    const options = {
      maxNewTokens: [10, 7],
      doSample: true,
      topK,
      temperature: 0.8,
      minNewTokens: 3,
      eosTokenId: 0,
    };
    const a = await model.generate(prompts, { ...options, rng: new Rng(1) });
    const b = await fast.generate(prompts, { ...options, rng: new Rng(1) });
    assert.deepEqual(b, a);
    await engine.dispose();
    model.dispose();
  });
}

Deno.test("OnnxAcceleratedValueModel values match the tfjs value model (separate and shared trunk)", async () => {
  const model = createGPT2(
    { vocabSize: 24, nPositions: 40, nEmbd: 16, nLayer: 2, nHead: 2, bosTokenId: 0, eosTokenId: 0 },
    new Rng(4),
  );
  const engine = await OnnxGpt2Engine.create(model.config);
  const prompts = [[1, 2, 3, 4], [5, 6]];
  const continuations = [[7, 8], [9, 10, 11]];
  for (const shared of [false, true]) {
    const critic = createValueModel(model, new Rng(5), { shared });
    tf.tidy(() => critic.bias.assign(tf.scalar(0.25).reshape([1])));
    const fast = new OnnxAcceleratedValueModel(critic, engine);
    const expected = await critic.values(prompts, continuations);
    const got = await fast.values(prompts, continuations);
    expected.forEach((row, b) => {
      assert.equal(got[b].length, row.length);
      row.forEach((v, t) =>
        assert.ok(Math.abs(got[b][t] - v) < 1e-4, `${shared} ${b} ${t}: ${got[b][t]} vs ${v}`)
      );
    });
    fast.dispose();
  }
  model.dispose();
});

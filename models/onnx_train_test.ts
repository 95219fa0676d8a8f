import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { Rng } from "../core/prng.ts";
import { AdamW } from "../stages/adamw.ts";
import { initBackend } from "./backend.ts";
import { loadCausalLM } from "./checkpoint.ts";
import { createGPT2 } from "./gpt2.ts";
import { OnnxAcceleratedLM, OnnxAcceleratedValueModel, OnnxGpt2Engine } from "./engine/mod.ts";
import type { ContinuationOutputs, GPT2Config } from "./types.ts";
import { createValueModel } from "./value.ts";

await initBackend("wasm");
const tinyGpt2 = new URL("../tests/fixtures/tiny-gpt2", import.meta.url).pathname;

/** A fresh GPT of `shape` and an engine for it. */
async function tinyOnEngine(shape: Partial<GPT2Config>, seed: number, gradients = true) {
  const model = createGPT2(shape, new Rng(seed).child("init"));
  const engine = await OnnxGpt2Engine.create(model.config, { gradients });
  return { model, engine, fast: new OnnxAcceleratedLM(model, engine) };
}

type Forward = (p: number[][], c: number[][], o: { entropy: boolean }) => ContinuationOutputs;

/** A loss that reads every output with position-dependent weights, so no gradient term hides. */
function mixedLoss(out: ContinuationOutputs): tf.Scalar {
  const weights = tf.sin(
    tf.mul(tf.reshape(tf.range(0, out.logProbs.size), out.logProbs.shape), 0.7),
  );
  return tf.addN([
    tf.sum(tf.mul(out.logProbs, weights)),
    tf.sum(tf.mul(out.entropy!, tf.cos(weights))),
    tf.sum(tf.sin(tf.mul(out.hidden, 0.3))),
  ]) as tf.Scalar;
}

function gradients(forward: Forward, variables: tf.Variable[], p: number[][], c: number[][]) {
  const { value, grads } = tf.variableGrads(
    () => mixedLoss(forward(p, c, { entropy: true })),
    variables,
  );
  const loss = value.dataSync()[0];
  const byName = new Map(variables.map((v) => [v.name, grads[v.name].dataSync() as Float32Array]));
  tf.dispose([value, ...Object.values(grads)]);
  return { loss, byName };
}

/** Largest |a - b| of each weight's gradient, relative to that gradient's largest entry. */
function assertClose(
  a: ReturnType<typeof gradients>,
  b: ReturnType<typeof gradients>,
  tolerance: number,
) {
  assert.ok(Math.abs(a.loss - b.loss) < 1e-4 * (1 + Math.abs(a.loss)), `${a.loss} vs ${b.loss}`);
  for (const [name, expected] of a.byName) {
    const actual = b.byName.get(name)!;
    let diff = 0, scale = 0;
    expected.forEach((e, i) => {
      diff = Math.max(diff, Math.abs(e - actual[i]));
      scale = Math.max(scale, Math.abs(e));
    });
    assert.ok(scale > 0, `${name}: zero gradient, the loss does not reach it`);
    assert.ok(diff <= tolerance * scale, `${name}: max diff ${diff} vs scale ${scale}`);
  }
}

const CASES: [string, number[][], number[][]][] = [
  ["one row, one token", [[3]], [[5]]],
  ["ragged prompts and continuations", [[1, 2, 3], [4, 5], [7, 8, 9, 10, 11]], [[5, 6, 7, 8], [
    9,
  ], [12, 13, 14]]],
  ["an empty continuation among others", [[2, 4], [6]], [[], [1, 2, 3, 4, 5, 6, 7]]],
];

// n_head 1, 3 and 6 and n_layer 1 and 3 (C = 12 divides by every head count)
const SHAPES: Partial<GPT2Config>[] = [
  { vocabSize: 37, nPositions: 24, nEmbd: 12, nLayer: 2, nHead: 3 },
  { vocabSize: 19, nPositions: 20, nEmbd: 12, nLayer: 1, nHead: 1 },
  { vocabSize: 41, nPositions: 20, nEmbd: 12, nLayer: 3, nHead: 6 },
  { vocabSize: 23, nPositions: 20, nEmbd: 12, nLayer: 3, nHead: 1, nInner: 7 },
];

for (const [i, shape] of SHAPES.entries()) {
  Deno.test(`Engine gradients equal tfjs autograd on a random GPT (n_head ${shape.nHead}, n_layer ${shape.nLayer})`, async () => {
    const { model, fast, engine } = await tinyOnEngine(shape, 5 + i);
    const variables = model.trainableVariables();
    for (const [what, prompts, continuations] of CASES) {
      const reference = gradients(
        model.forwardContinuation.bind(model),
        variables,
        prompts,
        continuations,
      );
      const ours = gradients(
        fast.forwardContinuation.bind(fast),
        variables,
        prompts,
        continuations,
      );
      try {
        assertClose(reference, ours, 1e-4);
      } catch (error) {
        throw new Error(`${what}: ${(error as Error).message}`);
      }
    }
    model.dispose();
    await engine.dispose();
  });
}

Deno.test("Engine gradients equal tfjs autograd on the tiny-gpt2 fixture's weights", async () => {
  const model = await loadCausalLM(tinyGpt2);
  const engine = await OnnxGpt2Engine.create(model.config);
  const fast = new OnnxAcceleratedLM(model, engine);
  const rng = new Rng(8);
  const rows = (n: number, length: number) =>
    Array.from({ length: n }, () => Array.from({ length }, () => rng.int(model.config.vocabSize)));
  const prompts = [...rows(2, 5), ...rows(2, 9)];
  const continuations = rows(4, 7);
  const variables = model.trainableVariables();
  assertClose(
    gradients(model.forwardContinuation.bind(model), variables, prompts, continuations),
    gradients(fast.forwardContinuation.bind(fast), variables, prompts, continuations),
    1e-4,
  );
  model.dispose();
});

Deno.test("Engine value-model gradients equal tfjs autograd, separate and shared trunks", async () => {
  const { model: policy, engine } = await tinyOnEngine({
    vocabSize: 29,
    nPositions: 20,
    nEmbd: 16,
    nLayer: 2,
    nHead: 2,
  }, 6);
  const prompts = [[1, 2], [3, 4, 5, 6]];
  const continuations = [[7, 8, 9], [10]];
  for (const shared of [false, true]) {
    const critic = createValueModel(policy, new Rng(7), { shared });
    const fast = new OnnxAcceleratedValueModel(critic, engine);
    const variables = [...critic.trunk.trainableVariables(), critic.weight, critic.bias];
    const run = (forward: () => tf.Tensor2D) => {
      const { value, grads } = tf.variableGrads(
        () => tf.sum(tf.sin(tf.mul(forward(), 3))) as tf.Scalar,
        variables,
      );
      const byName = new Map(
        variables.map((v) => [v.name, grads[v.name].dataSync() as Float32Array]),
      );
      const loss = value.dataSync()[0];
      tf.dispose([value, ...Object.values(grads)]);
      return { loss, byName };
    };
    assertClose(
      run(() => critic.forwardValues(prompts, continuations)),
      run(() => fast.forwardValues(prompts, continuations)),
      1e-4,
    );
    const values = tf.tidy(() => fast.forwardValues(prompts, continuations));
    assert.deepEqual(values.shape, [2, 3]);
    assert.equal(
      Math.abs(values.arraySync()[1][2]),
      0,
      "values are zero past a row's continuation",
    );
    values.dispose();
    if (shared) critic.weight.dispose(), critic.bias.dispose();
    else critic.dispose();
  }
  policy.dispose();
});

Deno.test("Engine training steps leak no tensors and follow the updated weights", async () => {
  const { model, fast } = await tinyOnEngine({
    vocabSize: 31,
    nPositions: 24,
    nEmbd: 16,
    nLayer: 2,
    nHead: 2,
  }, 9);
  const variables = model.trainableVariables();
  const optimizer = new AdamW(variables, { learningRate: 1e-2 });
  const prompts = [[1, 2, 3], [4]];
  const continuations = [[5, 6, 7, 8], [9, 10]];
  const step = () => {
    const { value, grads } = tf.variableGrads(
      () => tf.neg(tf.mean(fast.forwardContinuation(prompts, continuations).logProbs)) as tf.Scalar,
      variables,
    );
    optimizer.step(variables.map((v) => grads[v.name]));
    const loss = value.dataSync()[0];
    tf.dispose([value, ...Object.values(grads)]);
    return loss;
  };
  step();
  const before = tf.memory().numTensors;
  const losses = [step(), step(), step(), step()];
  assert.equal(tf.memory().numTensors, before);
  // each step sees the previous update: the NLL it minimises goes down
  assert.ok(losses[3] < losses[0], `losses ${losses}`);
  const [engineLogProbs, tfjsLogProbs] = [
    await fast.continuationLogProbs(prompts, continuations),
    await model.continuationLogProbs(prompts, continuations),
  ];
  engineLogProbs.flat().forEach((lp, i) => assert.ok(Math.abs(lp - tfjsLogProbs.flat()[i]) < 1e-4));
  optimizer.dispose();
  model.dispose();
});

Deno.test("An engine without gradients leaves the gradient step to tfjs", async () => {
  const { model, fast } = await tinyOnEngine(
    { vocabSize: 23, nPositions: 16, nEmbd: 8, nLayer: 1, nHead: 2 },
    4,
    false,
  );
  const variables = model.trainableVariables();
  const prompts = [[1, 2], [3]];
  const continuations = [[4, 5], [6, 7, 8]];
  const a = gradients(model.forwardContinuation.bind(model), variables, prompts, continuations);
  const b = gradients(fast.forwardContinuation.bind(fast), variables, prompts, continuations);
  for (const [name, g] of a.byName) assert.deepEqual(b.byName.get(name), g);
  model.dispose();
});

Deno.test("Engine training forward rejects bad tokens and over-long rows by name", async () => {
  const { model, fast } = await tinyOnEngine(
    { vocabSize: 23, nPositions: 8, nEmbd: 8, nLayer: 1, nHead: 2 },
    4,
  );
  assert.throws(
    () => tf.tidy(() => fast.forwardContinuation([[1]], [[2, 99]]).logProbs),
    /continuations row 0 has token 99, expected an integer in \[0, 23\)/,
  );
  assert.throws(
    () => tf.tidy(() => fast.forwardContinuation([[1, 2, 3, 4]], [[1, 2, 3, 4, 5, 6]]).logProbs),
    /Sequence of 9 tokens exceeds nPositions 8/,
  );
  model.dispose();
});

Deno.test("A disposed engine releases its sessions and refuses work by name", async () => {
  const { model, engine } = await tinyOnEngine({
    vocabSize: 11,
    nPositions: 8,
    nEmbd: 8,
    nLayer: 1,
    nHead: 2,
  }, 2);
  await engine.logits(model, [[1, 2]]); // opens the lazily built logits session too
  await engine.dispose();
  await engine.dispose(); // twice is harmless
  await assert.rejects(() => engine.score(model, [[1]], [[2]]), /OnnxGpt2Engine was disposed/);
  assert.throws(() => engine.weightFeeds(model), /OnnxGpt2Engine was disposed/);
  model.dispose();
});

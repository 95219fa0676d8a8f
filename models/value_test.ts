import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "./backend.ts";
import { createGPT2, type GPT2LM } from "./gpt2.ts";
import { createValueModel, loadValueModel, saveValueModel } from "./value.ts";
import { Rng } from "../core/prng.ts";

await initBackend();
const policy = createGPT2(
  { vocabSize: 30, nPositions: 24, nEmbd: 16, nLayer: 2, nHead: 2 },
  new Rng(8),
);
const PROMPTS = [[1, 2, 3], [4]];
const CONTS = [[5, 6, 7, 8], [9, 10]];

function close(a: number, b: number, what: string): void {
  assert.ok(Math.abs(a - b) < 1e-5, `${what}: ${a} vs ${b}`);
}

Deno.test("createValueModel() reads V(s_t) where the logit predicting token t is read", async () => {
  const value = createValueModel(policy, new Rng(1));
  const v = await value.values(PROMPTS, CONTS);
  assert.deepEqual(v.map((r) => r.length), [4, 2]);
  // V(s_t) depends on prompt + c_<t only: moving c_<t into the prompt leaves it unchanged
  for (let i = 0; i < PROMPTS.length; i++) {
    for (let t = 0; t < CONTS[i].length; t++) {
      const [[alone]] = await value.values([[...PROMPTS[i], ...CONTS[i].slice(0, t)]], [[
        CONTS[i][t],
      ]]);
      close(v[i][t], alone, `row ${i} t ${t}`);
    }
  }
  // and it is w·h + b on the trunk's hidden state at the log-prob's position
  const byHand = tf.tidy(() => {
    const { hidden } = (value.trunk as GPT2LM).forwardContinuation(PROMPTS, CONTS);
    return tf.add(tf.sum(tf.mul(hidden, tf.reshape(value.weight, [1, 1, 16])), 2), value.bias)
      .arraySync() as number[][];
  });
  v.forEach((row, i) => row.forEach((x, t) => close(x, byHand[i][t], `hand row ${i} t ${t}`)));
  const fromHidden = tf.tidy(() => {
    const { hidden } = (value.trunk as GPT2LM).forwardContinuation(PROMPTS, CONTS);
    return value.valuesFromHidden(hidden).arraySync();
  });
  v.forEach((row, i) =>
    row.forEach((x, t) => close(x, fromHidden[i][t], `fromHidden row ${i} t ${t}`))
  );
  value.dispose();
});

Deno.test("createValueModel() copies the trunk by default and shares it on request", async () => {
  const separate = createValueModel(policy, new Rng(1));
  const shared = createValueModel(policy, new Rng(1), { shared: true });
  assert.equal(shared.trunk, policy);
  assert.notEqual(separate.trunk, policy);
  assert.equal(shared.trainableVariables().length, 2);
  assert.equal(separate.trainableVariables().length, policy.trainableVariables().length + 2);
  const before = await separate.values(PROMPTS, CONTS);
  assert.deepEqual(await shared.values(PROMPTS, CONTS), before); // same head seed, same trunk weights
  const w = policy.weights.get("ln_f.bias")!;
  const saved = w.clone();
  w.assign(tf.add(saved, 0.5));
  assert.deepEqual(await separate.values(PROMPTS, CONTS), before);
  assert.notDeepEqual(await shared.values(PROMPTS, CONTS), before);
  w.assign(saved);
  saved.dispose();
  separate.dispose();
  shared.dispose();
  assert.ok(!policy.weights.get("wte.weight")!.isDisposed); // a shared head leaves the policy alone
});

Deno.test("saveValueModel() then loadValueModel() gives the same values, in both modes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const shared of [false, true]) {
      const value = createValueModel(policy, new Rng(3), { shared });
      await saveValueModel(value, `${dir}/${shared}`);
      if (shared) {
        await assert.rejects(loadValueModel(`${dir}/${shared}`), /shared trunk: pass the policy/);
      }
      const back = await loadValueModel(`${dir}/${shared}`, policy);
      assert.equal(back.shared, shared);
      assert.deepEqual(await back.values(PROMPTS, CONTS), await value.values(PROMPTS, CONTS));
      value.dispose();
      back.dispose();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("GPT2ValueModel.forwardValues() trains the head and the copied trunk without leaking", () => {
  const value = createValueModel(policy, new Rng(4));
  const targets = tf.tensor2d([[1, 1, 1, 1], [-1, -1, 0, 0]]);
  const loss = () =>
    tf.tidy(() =>
      tf.sum(tf.square(tf.sub(value.forwardValues(PROMPTS, CONTS), targets))) as tf.Scalar
    );
  const optimizer = tf.train.adam(0.01);
  const first = optimizer.minimize(loss, true, value.trainableVariables())!;
  const before = tf.memory().numTensors;
  const { value: l, grads } = tf.variableGrads(loss, value.trainableVariables());
  const trunkGrad = grads[value.trunk.weights.get("h.0.attn.c_attn.weight")!.name];
  assert.ok(tf.tidy(() => tf.max(tf.abs(trunkGrad)).dataSync()[0]) > 0);
  tf.dispose([l, ...Object.values(grads)]);
  let last = first.dataSync()[0];
  for (let i = 0; i < 5; i++) {
    const s = optimizer.minimize(loss, true, value.trainableVariables())!;
    last = s.dataSync()[0];
    s.dispose();
  }
  assert.equal(tf.memory().numTensors, before);
  assert.ok(last < first.dataSync()[0]);
  tf.dispose([first, targets]);
  optimizer.dispose();
  value.dispose();
});

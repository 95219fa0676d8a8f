import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { Rng } from "../../core/prng.ts";
import { initBackend } from "../backend.ts";
import { createT5 } from "../t5.ts";
import { createValueModel, loadValueModel, saveValueModel } from "../value.ts";
import { OnnxAcceleratedValueModel } from "./accelerated.ts";
import { OnnxT5Engine } from "./t5_engine.ts";

await initBackend("wasm");

const T5 = {
  vocabSize: 29,
  dModel: 12,
  dKv: 4,
  numHeads: 3,
  dFf: 10,
  numLayers: 2,
  numDecoderLayers: 2,
  relativeAttentionNumBuckets: 8,
  relativeAttentionMaxDistance: 16,
  feedForwardProj: "gated-gelu" as const,
  tieWordEmbeddings: false,
  padTokenId: 0,
  eosTokenId: 1,
  decoderStartTokenId: 0,
};
const prompts = [[1, 2, 3], [4, 5], [7, 8, 9, 10, 11]];
const continuations = [[5, 6, 7, 8], [9], []];

/** Each variable's gradient of a position-weighted sum of the values. */
function gradients(forward: () => tf.Tensor2D, variables: tf.Variable[]) {
  const { value, grads } = tf.variableGrads(() => {
    const v = forward();
    const w = tf.sin(tf.mul(tf.reshape(tf.range(0, v.size), v.shape), 0.9));
    return tf.sum(tf.mul(v, w)) as tf.Scalar;
  }, variables);
  const out = { loss: value.dataSync()[0], byName: new Map<string, Float32Array>() };
  // a weight the values never read (an untied LM head) gets no gradient from tfjs: zeros
  for (const v of variables) {
    out.byName.set(v.name, (grads[v.name]?.dataSync() as Float32Array) ?? new Float32Array(v.size));
  }
  tf.dispose([value, ...Object.values(grads)]);
  return out;
}

for (const shared of [false, true]) {
  Deno.test(`T5 critic (${shared ? "shared" : "separate"} trunk): engine values and gradients equal tfjs`, async () => {
    const policy = createT5(T5, new Rng(3).child("init"));
    const critic = createValueModel(policy, new Rng(4), { shared });
    const engine = await OnnxT5Engine.create(policy.config);
    const fast = new OnnxAcceleratedValueModel(critic, engine);
    const variables = critic.trainableVariables();
    const before = tf.memory().numTensors;
    const reference = gradients(() => critic.forwardValues(prompts, continuations), variables);
    const ours = gradients(() => fast.forwardValues(prompts, continuations), variables);
    assert.ok(Math.abs(reference.loss - ours.loss) < 1e-4 * (1 + Math.abs(reference.loss)));
    for (const [name, expected] of reference.byName) {
      const actual = ours.byName.get(name)!;
      let diff = 0, scale = 0;
      expected.forEach((e, i) => {
        diff = Math.max(diff, Math.abs(e - actual[i]));
        scale = Math.max(scale, Math.abs(e));
      });
      assert.ok(diff <= 1e-4 * Math.max(scale, 1e-6), `${name}: ${diff} vs scale ${scale}`);
    }
    const [plain, onEngine] = [
      await critic.values(prompts, continuations),
      await fast.values(prompts, continuations),
    ];
    plain.forEach((row, i) => {
      assert.equal(row.length, continuations[i].length);
      row.forEach((v, t) => assert.ok(Math.abs(v - onEngine[i][t]) < 1e-4, `row ${i} t=${t}`));
    });
    assert.equal(tf.memory().numTensors, before, "tensors leaked");
    await engine.dispose();
    critic.dispose();
    if (!shared) policy.dispose();
  });
}

Deno.test("A T5 critic saves and loads back with its trunk", async () => {
  const policy = createT5(T5, new Rng(5).child("init"));
  const critic = createValueModel(policy, new Rng(6));
  const dir = await Deno.makeTempDir();
  await saveValueModel(critic, dir);
  const loaded = await loadValueModel(dir);
  assert.deepEqual(
    await loaded.values(prompts, continuations),
    await critic.values(prompts, continuations),
  );
  for (const m of [loaded, critic, policy]) m.dispose();
  await Deno.remove(dir, { recursive: true });
});

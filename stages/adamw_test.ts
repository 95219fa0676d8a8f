import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { AdamW, clipGradNorm } from "./adamw.ts";

await tf.setBackend("cpu");

/** PyTorch's AdamW written out in plain numbers, one parameter at a time. */
function reference(p: number[], grads: number[][], lr: number, wd: number): number[] {
  const m = p.map(() => 0), v = p.map(() => 0);
  const out = p.slice();
  grads.forEach((g, step) => {
    const t = step + 1;
    for (let i = 0; i < out.length; i++) {
      out[i] *= 1 - lr * wd;
      m[i] = 0.9 * m[i] + 0.1 * g[i];
      v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
      const mHat = m[i] / (1 - 0.9 ** t), vHat = v[i] / (1 - 0.999 ** t);
      out[i] -= lr * mHat / (Math.sqrt(vHat) + 1e-8);
    }
  });
  return out;
}

Deno.test("AdamW matches PyTorch's update and skips decay on rank-1 variables", () => {
  const start = tf.memory().numTensors;
  const bias = tf.variable(tf.tensor1d([1, -2]));
  const weight = tf.variable(tf.tensor2d([[1, 2]]));
  const opt = new AdamW([bias, weight], { learningRate: 0.1, weightDecay: 0.5 });
  const grads = [[0.5, -1], [2, 0.25], [-0.3, 0.7]];
  for (const g of grads) {
    const gb = tf.tensor1d(g), gw = tf.tensor2d([g]);
    opt.step([gb, gw]);
    tf.dispose([gb, gw]);
  }
  const b = bias.dataSync(), w = weight.dataSync();
  reference([1, -2], grads, 0.1, 0).forEach((x, i) => assert.ok(Math.abs(b[i] - x) < 1e-5));
  reference([1, 2], grads, 0.1, 0.5).forEach((x, i) => assert.ok(Math.abs(w[i] - x) < 1e-5));
  assert.equal(opt.steps, 3);
  // the moments are host arrays: the steps leave only the two variables on the backend
  opt.dispose();
  tf.dispose([bias, weight]);
  assert.ok(tf.memory().numTensors <= start + 2);
});

Deno.test("AdamW.step() clips to maxGradNorm like clipGradNorm() and returns the norm", () => {
  const a = tf.variable(tf.tensor2d([[1, 2]]));
  const b = tf.variable(tf.tensor2d([[1, 2]]));
  const optA = new AdamW([a], { learningRate: 0.1 });
  const optB = new AdamW([b], { learningRate: 0.1 });
  for (const g of [[[3, 4]], [[0.3, 0.4]], [[-6, 8]]]) {
    const grad = tf.tensor2d(g);
    const clipped = clipGradNorm([grad], 1);
    optA.step(clipped.grads);
    const norm = optB.step([grad], { maxGradNorm: 1 });
    assert.ok(Math.abs(norm - clipped.norm) < 1e-6, `norm ${norm} vs ${clipped.norm}`);
    tf.dispose([grad, clipped.grads[0]!]);
  }
  const [pa, pb] = [a.dataSync(), b.dataSync()];
  pa.forEach((x, i) => assert.ok(Math.abs(x - pb[i]) < 1e-6));
  tf.dispose([a, b]);
});

Deno.test("clipGradNorm() scales to the maximum global norm and reports the norm", () => {
  const a = tf.tensor1d([3]), b = tf.tensor1d([4]);
  const out = clipGradNorm([a, null, b], 1);
  assert.ok(Math.abs(out.norm - 5) < 1e-6);
  assert.equal(out.grads[1], null);
  assert.ok(Math.abs(out.grads[0]!.dataSync()[0] - 0.6) < 1e-5);
  assert.ok(Math.abs(out.grads[2]!.dataSync()[0] - 0.8) < 1e-5);
  const small = clipGradNorm([a], 10);
  assert.equal(small.grads[0]!.dataSync()[0], 3);
  tf.dispose([a, b, ...out.grads.filter((g) => g !== null), small.grads[0]!] as tf.Tensor[]);
});

Deno.test("AdamW.getState() and setState() resume the same trajectory", () => {
  const a = tf.variable(tf.tensor2d([[1, 2]]));
  const b = tf.variable(tf.tensor2d([[1, 2]]));
  const optA = new AdamW([a], { learningRate: 0.1 });
  const optB = new AdamW([b], { learningRate: 0.1 });
  const g1 = tf.tensor2d([[0.5, -1]]), g2 = tf.tensor2d([[2, 0.25]]);
  optA.step([g1]);
  optB.step([g1]);
  optB.setState(optA.getState());
  optA.step([g2]);
  optB.step([g2]);
  assert.deepEqual(a.dataSync(), b.dataSync());
  assert.equal(optB.steps, 2);
  assert.throws(() => optB.setState({ step: 1, m: [], v: [] }), /has 0 moments, expected 1/);
  optA.dispose();
  optB.dispose();
  tf.dispose([a, b, g1, g2]);
});

import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../models/backend.ts";
import { AdamW } from "../stages/adamw.ts";
import { activeWasmHeap, sumSquaresOnHeap } from "./adamw.ts";

await initBackend("wasm");

/** PyTorch's AdamW with clip_grad_norm_, in plain numbers over one flat parameter vector. */
function reference(
  params: number[][],
  steps: number[][][],
  options: { lr: number; wd: number[]; maxNorm: number },
): number[][] {
  const p = params.map((x) => x.slice());
  const m = p.map((x) => x.map(() => 0)), v = p.map((x) => x.map(() => 0));
  steps.forEach((grads, step) => {
    const t = step + 1;
    const norm = Math.sqrt(grads.flat().reduce((s, g) => s + g * g, 0));
    const scale = norm > options.maxNorm ? options.maxNorm / (norm + 1e-6) : 1;
    grads.forEach((g, k) => {
      for (let i = 0; i < g.length; i++) {
        const gi = g[i] * scale;
        p[k][i] *= 1 - options.lr * options.wd[k];
        m[k][i] = 0.9 * m[k][i] + 0.1 * gi;
        v[k][i] = 0.999 * v[k][i] + 0.001 * gi * gi;
        const mHat = m[k][i] / (1 - 0.9 ** t), vHat = v[k][i] / (1 - 0.999 ** t);
        p[k][i] -= options.lr * mHat / (Math.sqrt(vHat) + 1e-8);
      }
    });
  });
  return p;
}

Deno.test("AdamW's heap kernel matches PyTorch's AdamW with clipping on odd sizes", () => {
  assert.ok(activeWasmHeap(), "the wasm backend exposes its heap to our kernels");
  const sizes = [1, 7, 129, 1030];
  const random = (n: number, k: number) =>
    Array.from({ length: n }, (_, i) => Math.sin(i * 1.3 + k));
  const params = sizes.map((n, k) => random(n, k));
  const steps = [0, 1, 2, 3].map((s) => sizes.map((n, k) => random(n, 10 * s + k + 5)));
  const variables = params.map((p, k) =>
    tf.variable(k === 0 ? tf.tensor1d(p) : tf.tensor2d(p, [1, p.length]))
  );
  const before = tf.memory().numTensors;
  const optimizer = new AdamW(variables, { learningRate: 0.05, weightDecay: 0.1 });
  let norms = 0;
  for (const grads of steps) {
    const tensors = grads.map((g, k) => tf.tensor(g, variables[k].shape));
    norms += optimizer.step(tensors, { maxGradNorm: 3 });
    tf.dispose(tensors);
  }
  // rank-1 variables do not decay (the default rule)
  const expected = reference(params, steps, { lr: 0.05, wd: [0, 0.1, 0.1, 0.1], maxNorm: 3 });
  variables.forEach((variable, k) => {
    const got = variable.dataSync();
    expected[k].forEach((e, i) =>
      assert.ok(Math.abs(got[i] - e) < 2e-5, `size ${sizes[k]}, index ${i}: ${got[i]} vs ${e}`)
    );
  });
  const expectedNorms = steps.reduce(
    (s, grads) => s + Math.sqrt(grads.flat().reduce((a, g) => a + g * g, 0)),
    0,
  );
  assert.ok(Math.abs(norms - expectedNorms) < 1e-4 * expectedNorms);
  // the moments are the only tensors the optimizer holds: 2 per variable, none leaked by steps
  assert.equal(tf.memory().numTensors, before + 2 * variables.length);
  const state = optimizer.getState();
  optimizer.setState(state);
  assert.equal(tf.memory().numTensors, before + 2 * variables.length);
  optimizer.dispose();
  assert.equal(tf.memory().numTensors, before);
  tf.dispose(variables);
});

Deno.test("sumSquaresOnHeap sums in double over blocks (sizes 1 to 5000)", () => {
  const heap = activeWasmHeap()!;
  for (const n of [1, 3, 4, 1023, 1024, 1025, 5000]) {
    const values = Array.from({ length: n }, (_, i) => Math.cos(i) * (1 + (i % 7)));
    const x = tf.tensor1d(values);
    const expected = values.reduce((s, a) => s + Math.fround(a) ** 2, 0);
    const got = sumSquaresOnHeap(heap, x);
    assert.ok(Math.abs(got - expected) < 1e-5 * expected, `n ${n}: ${got} vs ${expected}`);
    x.dispose();
  }
});

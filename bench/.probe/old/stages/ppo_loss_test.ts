import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { clippedPolicyLoss, clippedValueLoss, maskedMean } from "./ppo_loss.ts";

await tf.setBackend("cpu");

const close = (a: number, b: number, tol = 1e-6) =>
  assert.ok(Math.abs(a - b) < tol, `${a} vs ${b}`);

Deno.test("maskedMean() averages over the mask and is 0 on an empty mask", () => {
  const x = tf.tensor2d([[1, 2], [3, 4]]);
  close(maskedMean(x, tf.tensor2d([[1, 0], [0, 1]])).dataSync()[0], 2.5);
  close(maskedMean(x, tf.zeros([2, 2])).dataSync()[0], 0);
});

Deno.test("clippedPolicyLoss() matches hand-computed values and gradients", () => {
  // ratios 1.1 (inside the clip), 1.5 (A > 0: clipped), 0.5 (A < 0: clipped), masked.
  const lp = tf.tensor2d([[Math.log(1.1), Math.log(1.5), Math.log(0.5), 0.3]]);
  const old = tf.zeros([1, 4]);
  const adv = tf.tensor2d([[1, 1, -1, 2]]);
  const mask = tf.tensor2d([[1, 1, 1, 0]]);
  const out = clippedPolicyLoss(lp, old, adv, mask, 0.2);
  // max(-A r, -A clip(r)): -1.1, max(-1.5, -1.2) = -1.2, max(0.5, 0.8) = 0.8 → mean -1.5/3.
  close(out.loss.dataSync()[0], (-1.1 - 1.2 + 0.8) / 3);
  const kl = [1.1, 1.5, 0.5].map((r) => r - 1 - Math.log(r));
  close(out.approxKl.dataSync()[0], (kl[0] + kl[1] + kl[2]) / 3);
  close(out.clipFraction.dataSync()[0], 2 / 3);
  // d/d lp of -A r = -A r on the unclipped token; clipped and masked tokens get 0.
  const grad = tf.grad((x: tf.Tensor) => clippedPolicyLoss(x, old, adv, mask, 0.2).loss)(lp);
  const g = grad.dataSync();
  close(g[0], -1.1 / 3);
  assert.equal(g[1], 0);
  assert.equal(g[2], 0);
  assert.equal(g[3], 0);
});

Deno.test("clippedValueLoss() matches hand-computed values", () => {
  // t0: (1-0)² = 1 vs (0.5+0.2-0)² = 0.49 → 1; t1: (0.4-1)² = 0.36 vs (0.1+0.2-1)² = 0.49 → 0.49.
  const v = tf.tensor2d([[1.0, 0.4, 7]]);
  const old = tf.tensor2d([[0.5, 0.1, 0]]);
  const ret = tf.tensor2d([[0, 1, 0]]);
  const mask = tf.tensor2d([[1, 1, 0]]);
  close(clippedValueLoss(v, old, ret, mask, 0.2).dataSync()[0], 0.5 * (1 + 0.49) / 2);
  const g = tf.grad((x: tf.Tensor) => clippedValueLoss(x, old, ret, mask, 0.2))(v).dataSync();
  close(g[0], 0.5 * 2 * (1 - 0) / 2); // unclipped branch active
  assert.equal(g[1], 0); // the clipped branch is active and V - V_old is beyond the clip
  assert.equal(g[2], 0); // masked
});

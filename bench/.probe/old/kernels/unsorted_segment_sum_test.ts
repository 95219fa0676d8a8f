import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-wasm";
// tfjs-core registers no gradients; the union package registers them all
import "@tensorflow/tfjs";
import { Rng } from "../core/prng.ts";
import { installFastKernels, unregisterFastKernels } from "./register.ts";

async function onBackend(backend: string, f: () => tf.Tensor): Promise<Float32Array> {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const out = tf.tidy(f);
  const data = await out.data<"float32">();
  out.dispose();
  assert.equal(tf.memory().numTensors, before, `${backend}: tensors leaked`);
  return data;
}

Deno.test("unsortedSegmentSum on wasm matches the cpu backend, dropping out-of-range ids", async () => {
  const rng = new Rng(5);
  for (const [rows, width, segments] of [[1, 1, 1], [7, 129, 5], [129, 7, 300], [40, 3, 2]]) {
    const x = Float32Array.from({ length: rows * width }, () => rng.normal());
    // ids include -1 and `segments`, which TensorFlow drops
    const ids = Int32Array.from({ length: rows }, () => rng.int(segments + 2) - 1);
    const f = () =>
      tf.unsortedSegmentSum(tf.tensor2d(x, [rows, width]), tf.tensor1d(ids, "int32"), segments);
    const expected = new Float32Array(segments * width);
    ids.forEach((s, i) => {
      if (s < 0 || s >= segments) return;
      for (let j = 0; j < width; j++) expected[s * width + j] += x[i * width + j];
    });
    installFastKernels();
    try {
      const actual = await onBackend("wasm", f);
      const cpu = await onBackend("cpu", f);
      for (let i = 0; i < expected.length; i++) {
        assert.ok(Math.abs(actual[i] - expected[i]) < 1e-5, `${rows}x${width}: element ${i}`);
        assert.ok(Math.abs(cpu[i] - expected[i]) < 1e-5, `cpu ${rows}x${width}: element ${i}`);
      }
    } finally {
      unregisterFastKernels();
    }
  }
});

Deno.test("the gradient of tf.gather runs on wasm and matches the cpu backend", async () => {
  const rng = new Rng(6);
  const table = Float32Array.from({ length: 11 * 6 }, () => rng.normal());
  const ids = Int32Array.from({ length: 20 }, () => rng.int(11));
  const weights = Float32Array.from({ length: 20 * 6 }, () => rng.normal());
  const f = () =>
    tf.grad((t: tf.Tensor) =>
      tf.sum(tf.mul(tf.gather(t, tf.tensor1d(ids, "int32")), tf.tensor2d(weights, [20, 6])))
    )(tf.tensor2d(table, [11, 6]));
  const expected = await onBackend("cpu", f);
  installFastKernels();
  try {
    const actual = await onBackend("wasm", f);
    for (let i = 0; i < expected.length; i++) assert.ok(Math.abs(actual[i] - expected[i]) < 1e-5);
  } finally {
    unregisterFastKernels();
  }
});

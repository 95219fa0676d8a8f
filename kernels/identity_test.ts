import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-wasm";
// tfjs-core registers no gradients; the union package registers them all
import "@tensorflow/tfjs";
import { installFastKernels, unregisterFastKernels } from "./register.ts";

Deno.test("shared Identity: clones keep their values, free nothing twice, copy no bytes", async () => {
  await tf.setBackend("wasm");
  installFastKernels();
  try {
    const before = tf.memory().numTensors;
    const buffers = tf.backend().numDataIds();
    const x = tf.tensor1d([1, -2, 3.5, 7]);
    const y = tf.clone(x); // tf.clone runs the Identity kernel
    // the buffer is shared: two tensors, one buffer on the wasm heap
    assert.equal(y.dataId, x.dataId);
    assert.equal(tf.backend().numDataIds() - buffers, 1);
    x.dispose();
    assert.deepEqual(Array.from(await y.data()), [1, -2, 3.5, 7]);
    // a variable assigned after a copy of it was taken: the copy keeps the old value
    const [initial, next] = [tf.tensor1d([1, 2]), tf.tensor1d([5, 6])];
    const v = tf.variable(initial);
    const saved = tf.clone(v);
    v.assign(next);
    assert.deepEqual(Array.from(await saved.data()), [1, 2]);
    assert.deepEqual(Array.from(await v.data()), [5, 6]);
    // a gradient through saved copies equals the hand-computed one: d/dx sum(x^2) = 2x
    const g = tf.tidy(() => tf.grad((t: tf.Tensor) => tf.sum(tf.square(t)))(tf.tensor1d([1, -3])));
    assert.deepEqual(Array.from(await g.data()), [2, -6]);
    tf.dispose([y, v, saved, g, initial, next]);
    assert.equal(tf.memory().numTensors, before);
    assert.equal(tf.backend().numDataIds(), buffers);
  } finally {
    unregisterFastKernels();
  }
});

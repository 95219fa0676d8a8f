import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "./backend.ts";
import {
  dense,
  embedding,
  geluNew,
  layerNorm,
  lmHead,
  softmaxEntropy,
  tokenLogProbs,
} from "./fused_ops.ts";
import { createGPT2 } from "./gpt2.ts";
import { Rng } from "../core/prng.ts";

type Op = (...inputs: tf.Tensor[]) => tf.Tensor;
interface Case {
  name: string;
  shapes: number[][];
  fused: Op;
  plain: Op; // the same function from stock tfjs ops, differentiated by tfjs autograd
}

const ids = Int32Array.from([3, 0, 5, 3, 1, 6]);
const CASES: Case[] = [
  {
    name: "dense",
    shapes: [[6, 5], [5, 4], [4]],
    fused: (x, w, b) => dense(x as tf.Tensor2D, w as tf.Tensor2D, b as tf.Tensor1D),
    plain: (x, w, b) => tf.add(tf.matMul(x, w), b),
  },
  {
    name: "lmHead",
    shapes: [[6, 5], [7, 5]],
    fused: (h, w) => lmHead(h as tf.Tensor2D, w as tf.Tensor2D),
    plain: (h, w) => tf.matMul(h, w, false, true),
  },
  {
    name: "embedding",
    shapes: [[7, 5]],
    fused: (t) => embedding(t as tf.Tensor2D, ids),
    plain: (t) => tf.gather(t, tf.tensor1d(ids, "int32")),
  },
  {
    name: "tokenLogProbs",
    shapes: [[6, 7]],
    fused: (z) => tokenLogProbs(z as tf.Tensor2D, ids),
    plain: (z) =>
      tf.sum(
        tf.mul(tf.logSoftmax(z), tf.cast(tf.oneHot(tf.tensor1d(ids, "int32"), 7), "float32")),
        1,
      ),
  },
  {
    name: "softmaxEntropy",
    shapes: [[6, 7]],
    fused: (z) => softmaxEntropy(z as tf.Tensor2D),
    plain: (z) => tf.neg(tf.sum(tf.mul(tf.softmax(z), tf.logSoftmax(z)), 1)),
  },
  {
    name: "layerNorm",
    shapes: [[6, 7], [7], [7]],
    fused: (x, g, b) => layerNorm(x as tf.Tensor2D, g as tf.Tensor1D, b as tf.Tensor1D, 1e-5),
    plain: (x, g, b) => {
      const { mean, variance } = tf.moments(x, -1, true);
      return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))), g), b);
    },
  },
  {
    name: "geluNew",
    shapes: [[6, 7]],
    fused: (x) => geluNew(x),
    // GPT-2's definition, tanh form, differentiated by autograd
    plain: (x) =>
      tf.mul(
        tf.mul(x, 0.5),
        tf.add(
          1,
          tf.tanh(tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI))),
        ),
      ),
  },
];

function randomInputs(shapes: number[][], rng: Rng): Float32Array[] {
  return shapes.map((s) =>
    Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, () => rng.normal())
  );
}

/** Value and gradients of sum(f(inputs) · r) for a fixed random r. */
function valueAndGrads(
  f: Op,
  shapes: number[][],
  data: Float32Array[],
  seed: number,
): Float32Array[] {
  return tf.tidy(() => {
    const inputs = data.map((d, i) => tf.tensor(d, shapes[i]));
    const out = f(...inputs);
    const rng = new Rng(seed);
    const r = tf.tensor(Float32Array.from({ length: out.size }, () => rng.normal()), out.shape);
    const value = out.dataSync() as Float32Array;
    const grads = tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(f(...xs), r)))(inputs);
    return [value.slice(), ...grads.map((g) => (g.dataSync() as Float32Array).slice())];
  });
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

Deno.test("fused ops: values and custom gradients equal tfjs autograd on cpu and wasm", async () => {
  for (const c of CASES) {
    const data = randomInputs(c.shapes, new Rng(11).child(c.name));
    await initBackend("cpu");
    const reference = valueAndGrads(c.plain, c.shapes, data, 1);
    const onCpu = valueAndGrads(c.fused, c.shapes, data, 1);
    await initBackend("wasm");
    const onWasm = valueAndGrads(c.fused, c.shapes, data, 1);
    reference.forEach((want, i) => {
      assert.ok(maxDiff(want, onCpu[i]) < 1e-5, `${c.name} output ${i} on cpu`);
      assert.ok(maxDiff(want, onWasm[i]) < 1e-5, `${c.name} output ${i} on wasm`);
    });
  }
});

Deno.test("GPT2LM gradients on wasm equal those on cpu", async () => {
  const model = createGPT2(
    { vocabSize: 24, nPositions: 16, nEmbd: 16, nLayer: 2, nHead: 2, initializerRange: 0.3 },
    new Rng(5),
  );
  const loss = () =>
    tf.tidy(() => {
      const out = model.forwardContinuation([[1, 2, 3], [4]], [[5, 6, 7], [8, 9]], {
        entropy: true,
      });
      return tf.add(tf.sum(out.logProbs), tf.sum(tf.mul(out.entropy!, 0.5))) as tf.Scalar;
    });
  const grads = () => {
    const { value, grads } = tf.variableGrads(loss, model.trainableVariables());
    const out = model.trainableVariables().map((v) =>
      grads[v.name].dataSync().slice() as Float32Array
    );
    tf.dispose([value, ...Object.values(grads)]);
    return out;
  };
  await initBackend("cpu");
  const onCpu = grads();
  await initBackend("wasm");
  const onWasm = grads();
  const names = [...model.weights.keys()];
  onCpu.forEach((g, i) => assert.ok(maxDiff(g, onWasm[i]) < 1e-4, names[i]));
  model.dispose();
});

import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-wasm";
import { Rng } from "../core/prng.ts";
import { installFastKernels, unregisterFastKernels } from "./register.ts";

/** Inputs of odd lengths (1, 7, 129) covering the reduced, polynomial and saturated ranges. */
function inputs(rng: Rng): Float32Array[] {
  const special = [
    0,
    -0,
    1e-8,
    -1e-8,
    0.6249,
    0.6251,
    -0.625,
    20,
    -20,
    88,
    -87,
    89,
    -88,
    -1e9,
    1e9,
  ];
  return [
    Float32Array.from([0.5]),
    Float32Array.from({ length: 7 }, () => rng.normal() * 3),
    Float32Array.from({ length: 129 }, () => rng.normal() * 10),
    Float32Array.from(special),
  ];
}

async function run(backend: string, f: () => tf.Tensor): Promise<Float32Array> {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const out = tf.tidy(f);
  const data = await out.data<"float32">();
  out.dispose();
  assert.equal(tf.memory().numTensors, before, `${backend}: tensors leaked`);
  return data;
}

async function compare(
  name: string,
  f: (x: tf.Tensor) => tf.Tensor,
  relative: number,
  absolute: number,
): Promise<void> {
  for (const x of inputs(new Rng(7))) {
    const g = () => f(tf.tensor1d(x));
    const expected = await run("cpu", g);
    installFastKernels();
    try {
      const actual = await run("wasm", g);
      for (let i = 0; i < x.length; i++) {
        const [a, e] = [actual[i], expected[i]];
        const ok = a === e || Math.abs(a - e) <= absolute + relative * Math.abs(e);
        assert.ok(ok, `${name}(${x[i]}) = ${a}, cpu backend gives ${e}`);
      }
    } finally {
      unregisterFastKernels();
    }
  }
}

Deno.test("exp on wasm matches the cpu backend, with 0 and inf where float32 ends", async () => {
  // below the smallest normal float32 our exp flushes to 0 where libm returns a subnormal
  await compare("exp", tf.exp, 2e-6, 1e-37);
});

Deno.test("tanh on wasm matches the cpu backend", async () => {
  await compare("tanh", tf.tanh, 2e-6, 1e-7);
});

Deno.test("pow with small integer exponents on wasm matches the cpu backend", async () => {
  for (const n of [0, 1, 2, 3, 5]) await compare(`pow ${n}`, (x) => tf.pow(x, n), 1e-6, 0);
  // other exponents go to tfjs-wasm's own kernel
  await compare("pow 0.5", (x) => tf.pow(tf.abs(x), 0.5), 1e-6, 0);
  await compare("pow -1", (x) => tf.pow(x, -1), 1e-6, 0);
});

Deno.test("sums over leading axes on wasm match the cpu backend; other axes fall back", async () => {
  const rng = new Rng(8);
  for (
    const [shape, axis, keepDims] of [
      [[129, 7], 0, false],
      [[7, 1], 0, true],
      [[3, 5, 129], [0, 1], false],
      [[3, 5, 7], [1, 0], true],
      [[3, 5, 7], -1, false], // innermost: tfjs-wasm's kernel
      [[3, 5, 7], [0, 2], false], // not a prefix: tfjs-wasm's kernel
    ] as [number[], number | number[], boolean][]
  ) {
    const x = Float32Array.from({ length: tf.util.sizeFromShape(shape) }, () => rng.normal());
    const f = () => tf.sum(tf.tensor(x, shape), axis, keepDims);
    const expected = await run("cpu", f);
    installFastKernels();
    try {
      await tf.setBackend("wasm");
      const shapeOut = tf.tidy(() => f().shape);
      assert.deepEqual(shapeOut, tf.tidy(() => tf.sum(tf.zeros(shape), axis, keepDims).shape));
      const actual = await run("wasm", f);
      assert.equal(actual.length, expected.length);
      for (let i = 0; i < actual.length; i++) {
        assert.ok(Math.abs(actual[i] - expected[i]) < 1e-4, `${shape} axis ${axis}: element ${i}`);
      }
    } finally {
      unregisterFastKernels();
    }
  }
});

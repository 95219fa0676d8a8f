import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-wasm";
// tfjs-core registers no gradients; the union package registers them all
import "@tensorflow/tfjs";
import { Rng } from "../core/prng.ts";
import { planBatchMatMul } from "./batch_mat_mul.ts";
import {
  fastKernelThreads,
  installFastKernels,
  registerFastKernels,
  unregisterFastKernels,
} from "./register.ts";
import { startKernelThreads } from "./thread_pool.ts";
import {
  chunking,
  chunkRange,
  claimChunk,
  CTRL_BYTES,
  CTRL_NEXT,
  openJob,
} from "./thread_protocol.ts";

function randomData(rng: Rng, size: number): Float32Array {
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = rng.normal();
  return out;
}

/** tf.matMul of host data on a given backend, read back to the host. */
async function matMulOn(
  backend: string,
  a: { data: Float32Array; shape: number[] },
  b: { data: Float32Array; shape: number[] },
  transposeA: boolean,
  transposeB: boolean,
): Promise<{ data: Float32Array; shape: number[] }> {
  await tf.setBackend(backend);
  const out = tf.tidy(() =>
    tf.matMul(tf.tensor(a.data, a.shape), tf.tensor(b.data, b.shape), transposeA, transposeB)
  );
  const data = await out.data<"float32">();
  const shape = out.shape;
  out.dispose();
  return { data, shape };
}

function assertClose(actual: Float32Array, expected: Float32Array, tol: number, what: string) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const diff = Math.abs(actual[i] - expected[i]);
    if (!(diff <= tol * (1 + Math.abs(expected[i])))) {
      assert.fail(`${what}: element ${i} is ${actual[i]}, expected ${expected[i]}`);
    }
  }
}

/** Shapes [a, b] of op(A)[.., m, k] x op(B)[.., k, n] for the given flags and batch shapes. */
function shapes(
  m: number,
  n: number,
  k: number,
  ta: boolean,
  tb: boolean,
  batchA: number[],
  batchB: number[],
): [number[], number[]] {
  return [[...batchA, ...(ta ? [k, m] : [m, k])], [...batchB, ...(tb ? [n, k] : [k, n])]];
}

const ODD: [number, number, number][] = [
  [1, 1, 1],
  [7, 1, 129],
  [1, 129, 7],
  [7, 7, 7],
  [129, 7, 1],
  [129, 129, 7],
  [7, 129, 129],
  [130, 9, 300], // more than one KC block of the inner dimension
];
const BATCHES: [number[], number[]][] = [[[], []], [[3], [3]], [[2, 3], [2, 3]], [[3], []], [
  [1],
  [2, 3],
]];
const FLAGS: [boolean, boolean][] = [[false, false], [true, false], [false, true], [true, true]];

async function checkAgainstCpu(rng: Rng, cases: [number, number, number][]): Promise<void> {
  for (const [m, n, k] of cases) {
    for (const [ta, tb] of FLAGS) {
      for (const [batchA, batchB] of BATCHES) {
        const [sa, sb] = shapes(m, n, k, ta, tb, batchA, batchB);
        const a = { data: randomData(rng, tf.util.sizeFromShape(sa)), shape: sa };
        const b = { data: randomData(rng, tf.util.sizeFromShape(sb)), shape: sb };
        const expected = await matMulOn("cpu", a, b, ta, tb);
        const actual = await matMulOn("wasm", a, b, ta, tb);
        const what = `${sa} x ${sb} transposeA=${ta} transposeB=${tb}`;
        assert.deepEqual(actual.shape, expected.shape, what);
        assertClose(actual.data, expected.data, 1e-4, what);
      }
    }
  }
}

Deno.test("planBatchMatMul gives element strides for each flag and broadcast", () => {
  const plan = planBatchMatMul([2, 3, 5, 4], [1, 5, 6], true, false)!;
  assert.deepEqual(plan.outShape, [2, 3, 4, 6]);
  assert.deepEqual(plan.job, {
    batch: 6,
    m: 4,
    n: 6,
    k: 5,
    bsa: 20,
    rsa: 1,
    csa: 4,
    bsb: 0,
    rsb: 6,
    csb: 1,
  });
  const t = planBatchMatMul([4, 5], [6, 5], false, true)!;
  assert.deepEqual([t.job.rsb, t.job.csb], [1, 5]);
  // a general broadcast ([2,1] with [1,3]) is left to tfjs-wasm's own kernel
  assert.equal(planBatchMatMul([2, 1, 4, 5], [1, 3, 5, 6], false, false), null);
  assert.throws(() => planBatchMatMul([4, 5], [4, 5], false, false), /inner shapes/);
});

Deno.test("matMul on our wasm kernel matches the cpu backend on odd sizes, flags and batches", async () => {
  installFastKernels();
  try {
    await checkAgainstCpu(new Rng(1), ODD);
  } finally {
    unregisterFastKernels();
    await tf.setBackend("wasm");
  }
});

Deno.test("matMul split over a worker thread matches the cpu backend", async () => {
  const pool = await startKernelThreads({ workers: 1, minParallelFlops: 0 });
  installFastKernels(pool.runner);
  try {
    await checkAgainstCpu(new Rng(2), [[1, 7, 129], [7, 129, 7], [129, 7, 129], [130, 9, 300]]);
  } finally {
    pool.stop();
    unregisterFastKernels();
    await tf.setBackend("wasm");
  }
});

/** Float64 dot products at sampled positions: an independent check for benchmark-sized products. */
function checkSampled(
  rng: Rng,
  a: Float32Array,
  b: Float32Array,
  c: Float32Array,
  plan: NonNullable<ReturnType<typeof planBatchMatMul>>,
  what: string,
): void {
  const { batch, m, n, k, bsa, rsa, csa, bsb, rsb, csb } = plan.job;
  for (let s = 0; s < 300; s++) {
    const [bi, i, j] = [rng.int(batch), rng.int(m), rng.int(n)];
    let sum = 0;
    for (let p = 0; p < k; p++) {
      sum += a[bi * bsa + i * rsa + p * csa] * b[bi * bsb + p * rsb + j * csb];
    }
    const got = c[(bi * m + i) * n + j];
    assert.ok(
      Math.abs(got - sum) <= 1e-4 * (Math.sqrt(k) + Math.abs(sum)),
      `${what}: ${got} vs ${sum}`,
    );
  }
}

Deno.test("matMul on the benchmark's shapes matches float64 dot products", async () => {
  await tf.setBackend("wasm");
  const pool = await startKernelThreads({ workers: 1 });
  const rng = new Rng(3);
  const cases: [number[], number[], boolean, boolean][] = [
    [[16, 4, 128, 64], [16, 4, 128, 64], false, true], // attention scores q·kᵀ
    [[16, 4, 128, 128], [16, 4, 128, 64], false, false], // probabilities · v
    [[16, 4, 128, 128], [16, 4, 128, 64], true, false], // autograd: pᵀ·dy
    [[2048, 256], [2048, 768], true, false], // dense weight gradient xᵀ·dy
    [[2048, 1024], [256, 1024], false, true], // dense input gradient dy·wᵀ
    [[16, 256], [256, 768], false, false], // one decoding step
  ];
  try {
    for (const runner of [undefined, pool.runner]) {
      installFastKernels(runner);
      for (const [sa, sb, ta, tb] of cases) {
        const a = randomData(rng, tf.util.sizeFromShape(sa));
        const b = randomData(rng, tf.util.sizeFromShape(sb));
        const out = tf.tidy(() => tf.matMul(tf.tensor(a, sa), tf.tensor(b, sb), ta, tb));
        const c = await out.data<"float32">();
        out.dispose();
        const what = `${sa} x ${sb} transposeA=${ta} transposeB=${tb} threads=${runner ? 2 : 1}`;
        checkSampled(rng, a, b, c, planBatchMatMul(sa, sb, ta, tb)!, what);
      }
    }
  } finally {
    pool.stop();
    unregisterFastKernels();
  }
});

Deno.test("matMul gradients on our kernel match the cpu backend and leak no tensors", async () => {
  const rng = new Rng(4);
  const x = randomData(rng, 2 * 3 * 7 * 5);
  const w = randomData(rng, 2 * 3 * 5 * 9);
  const grads = async (backend: string) => {
    await tf.setBackend(backend);
    const before = tf.memory().numTensors;
    const out = tf.tidy(() => {
      const f = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.matMul(a, b)));
      const [ga, gb] = tf.grads(f)([tf.tensor(x, [2, 3, 7, 5]), tf.tensor(w, [2, 3, 5, 9])]);
      return tf.concat([tf.reshape(ga, [-1]), tf.reshape(gb, [-1])]);
    });
    const data = await out.data<"float32">();
    out.dispose();
    assert.equal(tf.memory().numTensors, before, `${backend}: tensors leaked`);
    return data;
  };
  const expected = await grads("cpu");
  installFastKernels();
  try {
    assertClose(await grads("wasm"), expected, 1e-4, "gradients");
  } finally {
    unregisterFastKernels();
  }
});

Deno.test("unregisterFastKernels restores tfjs-wasm's own BatchMatMul", () => {
  const original = tf.getKernel("BatchMatMul", "wasm");
  assert.ok(original);
  installFastKernels();
  assert.notEqual(tf.getKernel("BatchMatMul", "wasm"), original);
  unregisterFastKernels();
  assert.equal(tf.getKernel("BatchMatMul", "wasm"), original);
});

Deno.test("chunks are claimed once each and never across jobs", () => {
  const ctrl = new Int32Array(new SharedArrayBuffer(CTRL_BYTES));
  Atomics.store(ctrl, CTRL_NEXT, openJob(7));
  assert.deepEqual([0, 1, 2, 3].map(() => claimChunk(ctrl, 7, 3)), [0, 1, 2, -1]);
  // a worker that slept through job 7 and wakes with job 6's fields claims nothing of job 8
  Atomics.store(ctrl, CTRL_NEXT, openJob(8));
  assert.equal(claimChunk(ctrl, 6, 3), -1);
  assert.equal(claimChunk(ctrl, 8, 3), 0);
  // chunks cover every batch, or every row in multiples of 4, exactly once
  for (const [batch, m] of [[64, 128], [3, 5], [1, 2048], [1, 7], [1, 1]]) {
    const cut = chunking(batch, m, 16);
    const seen = new Int32Array(batch * m);
    for (let i = 0; i < cut.chunks; i++) {
      const [b0, b1, m0, m1] = chunkRange(cut, i, batch, m);
      if (!cut.byBatch) assert.equal(m0 % 4, 0);
      for (let bi = b0; bi < b1; bi++) for (let r = m0; r < m1; r++) seen[bi * m + r]++;
    }
    assert.ok(seen.every((v) => v === 1), `${batch}x${m}`);
  }
});

Deno.test("registerFastKernels starts and unregisterFastKernels stops the worker threads", async () => {
  await tf.setBackend("wasm");
  await registerFastKernels({ threads: 1, minParallelFlops: 0 });
  try {
    assert.equal(fastKernelThreads(), 1);
    const out = tf.tidy(() => tf.matMul(tf.ones([2, 8, 5]), tf.ones([2, 5, 3])));
    assert.deepEqual(Array.from(await out.data()), new Array(48).fill(5));
    out.dispose();
  } finally {
    unregisterFastKernels();
  }
  assert.equal(fastKernelThreads(), 0);
  await assert.rejects(() => registerFastKernels({ threads: -1 }), /threads must be/);
});

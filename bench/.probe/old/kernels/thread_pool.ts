/**
 * Runs products on both cores: worker threads with a shared WebAssembly memory, driven
 * synchronously from the main thread (Atomics.wait), because a tfjs kernel function cannot await.
 *
 * tfjs-wasm's heap is not shared, so the operands are copied into the pool's shared memory for the
 * workers. The product is cut into chunks (batches when there are several, rows otherwise) that
 * every thread claims in turn: the main thread computes its chunks in place on the tfjs heap, and
 * the chunks the workers computed are copied back at the end. Claiming in turn keeps the main
 * thread busy when the OS is slow to run a worker (the cores here are shared with other jobs).
 * Small products stay on the main thread, where the copies and the wake-up cost more than they
 * save.
 *
 * @module
 */
import { type GemmJob, type GemmRunner, runOnHeap } from "./batch_mat_mul.ts";
import { gemmModule, instantiateGemm } from "./gemm_module.ts";
import { heapKernels, type WasmBackendLike } from "./wasm_heap.ts";
import {
  chunking,
  chunkRange,
  claimChunk,
  CTRL_BYTES,
  CTRL_DONE,
  CTRL_JOB,
  CTRL_NEXT,
  CTRL_OWNERS,
  CTRL_SEQ,
  CTRL_STOP,
  JOB_FIELDS,
  openJob,
} from "./thread_protocol.ts";

/**
 * Products below this many floating-point operations run on the main thread alone: a decoding
 * step's head product (16 x 256 x 8192, 67 M) measured 2x slower split than whole here.
 */
export const DEFAULT_MIN_PARALLEL_FLOPS = 1e8;

const PAGE = 65536;
/** How long the main thread waits for a worker's chunk before it gives up (a dead worker). */
const WORKER_TIMEOUT_MS = 120_000;

/** A started pool; see {@link startKernelThreads}. */
export interface KernelThreads {
  /** Worker threads started (the main thread works as well). */
  workers: number;
  /** The runner to pass to registerFastKernels. */
  runner: GemmRunner;
  /** Stops the workers (a pool must be stopped for a Deno process or test to finish cleanly). */
  stop(): void;
}

/** Options of {@link startKernelThreads}. */
export interface KernelThreadOptions {
  /** Worker threads to start; default hardwareConcurrency - 1. */
  workers?: number;
  /** Products smaller than this stay on the main thread; default {@link DEFAULT_MIN_PARALLEL_FLOPS}. */
  minParallelFlops?: number;
}

/**
 * Whether this runtime can run the pool (Workers, SharedArrayBuffer, shared wasm memory).
 *
 * @returns true when {@link startKernelThreads} can work here
 */
export function kernelThreadsSupported(): boolean {
  if (typeof Worker === "undefined" || typeof SharedArrayBuffer === "undefined") return false;
  try {
    new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts worker threads for the kernels.
 *
 * @param options how many workers and from which size products are split
 * @returns the pool; pass `pool.runner` to registerFastKernels and call `pool.stop()` when done
 */
export async function startKernelThreads(
  options: KernelThreadOptions = {},
): Promise<KernelThreads> {
  const workers = options.workers ?? Math.max(0, (navigator.hardwareConcurrency ?? 1) - 1);
  const minFlops = options.minParallelFlops ?? DEFAULT_MIN_PARALLEL_FLOPS;
  if (workers === 0) return { workers: 0, runner: runOnHeap, stop() {} };
  if (!kernelThreadsSupported()) {
    throw new Error("Kernel threads need Worker, SharedArrayBuffer and shared WebAssembly.Memory");
  }
  const module = gemmModule(true);
  const memory = new WebAssembly.Memory({ initial: 64, maximum: 65536, shared: true });
  const scratchBytes = instantiateGemm(memory, module).gemm_scratch_floats() * 4;
  const dataStart = Math.ceil((CTRL_BYTES + workers * scratchBytes) / 64) * 64;
  const threads: Worker[] = [];
  const ready: Promise<void>[] = [];
  for (let index = 0; index < workers; index++) {
    const worker = new Worker(new URL("./gemm_worker.ts", import.meta.url), { type: "module" });
    ready.push(
      new Promise((resolve, reject) => {
        worker.onmessage = () => resolve();
        worker.onerror = (e) => reject(new Error(`Kernel worker failed to start: ${e.message}`));
      }),
    );
    worker.postMessage({ memory, module, scratch: CTRL_BYTES + index * scratchBytes });
    threads.push(worker);
  }
  await Promise.all(ready);
  const ctrl = new Int32Array(memory.buffer, 0, CTRL_BYTES / 4);
  let stopped = false;

  const ensure = (bytes: number) => {
    const have = memory.buffer.byteLength;
    if (bytes > have) memory.grow(Math.ceil((bytes - have) / PAGE));
  };

  const runner: GemmRunner = (backend: WasmBackendLike, job: GemmJob, a, b, c) => {
    const { batch, m, n, k, bsa, rsa, csa, bsb, rsb, csb } = job;
    if (stopped || 2 * batch * m * n * k < minFlops) return runOnHeap(backend, job, a, b, c);
    // several chunks per thread, so that a thread the OS leaves waiting holds up little work
    const cut = chunking(batch, m, 8 * (workers + 1));
    const aFloats = (bsa === 0 ? 1 : batch) * m * k;
    const bFloats = (bsb === 0 ? 1 : batch) * k * n;
    const cFloats = batch * m * n;
    const sa = dataStart;
    const sb = sa + aFloats * 4;
    const sc = sb + bFloats * 4;
    ensure(sc + cFloats * 4);
    const heap = heapKernels(backend).memory.buffer;
    const staged = new Float32Array(memory.buffer);
    staged.set(new Float32Array(heap, a, aFloats), sa / 4);
    staged.set(new Float32Array(heap, b, bFloats), sb / 4);
    const fields: Record<(typeof JOB_FIELDS)[number], number> = {
      ...job,
      a: sa,
      b: sb,
      c: sc,
      byBatch: cut.byBatch ? 1 : 0,
      chunk: cut.chunk,
      chunks: cut.chunks,
    };
    ctrl.set(JOB_FIELDS.map((name) => fields[name]), CTRL_JOB);
    ctrl.fill(0, CTRL_OWNERS, CTRL_OWNERS + cut.chunks);
    Atomics.store(ctrl, CTRL_DONE, 0);
    const seq = Atomics.load(ctrl, CTRL_SEQ) + 1;
    Atomics.store(ctrl, CTRL_NEXT, openJob(seq));
    Atomics.store(ctrl, CTRL_SEQ, seq);
    Atomics.notify(ctrl, CTRL_SEQ);
    // The main thread takes chunks too, computing in place on the tfjs heap.
    const { gemm, scratch } = heapKernels(backend);
    for (;;) {
      const index = claimChunk(ctrl, seq, cut.chunks);
      if (index < 0) break;
      const [b0, b1, m0, m1] = chunkRange(cut, index, batch, m);
      gemm.gemm_batched(b0, b1, m0, m1, m, n, k, a, bsa, rsa, csa, b, bsb, rsb, csb, c, scratch);
      Atomics.add(ctrl, CTRL_DONE, 1);
    }
    const deadline = performance.now() + WORKER_TIMEOUT_MS;
    for (;;) {
      const done = Atomics.load(ctrl, CTRL_DONE);
      if (done >= cut.chunks) break;
      if (
        Atomics.wait(ctrl, CTRL_DONE, done, 1000) === "timed-out" && performance.now() > deadline
      ) {
        throw new Error(`A kernel worker did not finish its share within ${WORKER_TIMEOUT_MS} ms`);
      }
    }
    // Copy the workers' chunks of C back (a chunk's rows of every batch it covers are contiguous
    // per batch).
    const out = new Float32Array(heap, c, cFloats);
    for (let index = 0; index < cut.chunks; index++) {
      if (ctrl[CTRL_OWNERS + index] !== 1) continue;
      const [b0, b1, m0, m1] = chunkRange(cut, index, batch, m);
      for (let bi = b0; bi < b1; bi++) {
        const from = bi * m * n + m0 * n;
        const to = bi * m * n + m1 * n;
        out.set(staged.subarray(sc / 4 + from, sc / 4 + to), from);
      }
    }
  };

  return {
    workers,
    runner,
    stop() {
      if (stopped) return;
      stopped = true;
      Atomics.store(ctrl, CTRL_STOP, 1);
      Atomics.add(ctrl, CTRL_SEQ, 1);
      Atomics.notify(ctrl, CTRL_SEQ);
      for (const worker of threads) worker.terminate();
    },
  };
}

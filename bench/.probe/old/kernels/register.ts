/**
 * Switches tfjs-wasm onto our kernels: `registerFastKernels()` replaces the wasm backend's
 * BatchMatMul, Exp, Tanh, Pow and Sum and adds UnsortedSegmentSum (unless another one is already
 * registered); `unregisterFastKernels()` restores what was there before.
 *
 * @module
 */
import {
  BatchMatMul,
  Exp,
  getKernel,
  type KernelConfig,
  type KernelFunc,
  Pow,
  registerKernel,
  Sum,
  Tanh,
  unregisterKernel,
  UnsortedSegmentSum,
} from "@tensorflow/tfjs-core";
import { type GemmRunner, makeBatchMatMul, runOnHeap } from "./batch_mat_mul.ts";
import { type KernelThreads, kernelThreadsSupported, startKernelThreads } from "./thread_pool.ts";
import { unsortedSegmentSum } from "./unsorted_segment_sum.ts";
import { makeExp, makePow, makeSum, makeTanh } from "./elementwise.ts";

const BACKEND = "wasm";

/** Kernels we replaced (config or undefined when there was none), to restore them. */
const replaced = new Map<string, KernelConfig | undefined>();

function swap(kernelName: string, kernelFunc: KernelFunc): void {
  const previous = getKernel(kernelName, BACKEND);
  if (previous !== undefined) unregisterKernel(kernelName, BACKEND);
  if (!replaced.has(kernelName)) replaced.set(kernelName, previous);
  // tfjs-wasm's kernels bind their wasm functions in setupFunc, which the engine runs when the
  // backend starts: keep it, so the fallback works when we are registered before that
  const { setupFunc, disposeFunc } = replaced.get(kernelName) ?? {};
  registerKernel({ kernelName, backendName: BACKEND, kernelFunc, setupFunc, disposeFunc });
}

/** tfjs-wasm's own kernel function for `kernelName` (kept as the fallback of ours). */
function original(kernelName: string): KernelFunc {
  const config = replaced.has(kernelName)
    ? replaced.get(kernelName)
    : getKernel(kernelName, BACKEND);
  if (config === undefined) {
    throw new Error(
      `tfjs-backend-wasm has no ${kernelName} kernel: import it before registerFastKernels()`,
    );
  }
  return config.kernelFunc;
}

/** Options of {@link registerFastKernels}. */
export interface FastKernelOptions {
  /**
   * Worker threads for large products, besides the main thread: a number, or "auto" for one fewer
   * than the cores when Workers and shared memory are available. Default 0: on this project's
   * shared 2-core machine the split measured slower (bench/results/speed.md), because the other
   * core was rarely free.
   */
  threads?: number | "auto";
  /** Products below this many floating-point operations stay on the main thread. */
  minParallelFlops?: number;
}

let pool: KernelThreads | undefined;

/**
 * Installs our kernels with a given product runner (synchronous; no worker threads are started).
 *
 * @param runner how products run; default: on the calling thread, in place on the tfjs heap
 */
export function installFastKernels(runner: GemmRunner = runOnHeap): void {
  swap(BatchMatMul, makeBatchMatMul(original(BatchMatMul), runner));
  swap(Exp, makeExp(original(Exp)));
  swap(Tanh, makeTanh(original(Tanh)));
  swap(Pow, makePow(original(Pow)));
  swap(Sum, makeSum(original(Sum)));
  // Another module (e.g. the models) may bring its own segment sum: keep it.
  if (replaced.has(UnsortedSegmentSum) || getKernel(UnsortedSegmentSum, BACKEND) === undefined) {
    swap(UnsortedSegmentSum, unsortedSegmentSum);
  }
}

/**
 * Registers our kernels for tfjs's "wasm" backend: every BatchMatMul (any transpose flags, batch
 * dimensions) on our SIMD product, split over worker threads when large; SIMD Exp, Tanh,
 * small-integer Pow and sums over leading axes; and an UnsortedSegmentSum unless one is
 * registered already. tfjs-wasm's own kernels are kept as fallbacks and restored by
 * {@link unregisterFastKernels}. Calling it again re-registers with the new options.
 *
 * @param options worker threads and the size from which products are split
 * @returns once the workers (if any) are ready
 */
export async function registerFastKernels(options: FastKernelOptions = {}): Promise<void> {
  const requested = options.threads ?? 0;
  let workers = requested === "auto"
    ? (kernelThreadsSupported() ? Math.max(0, (navigator.hardwareConcurrency ?? 1) - 1) : 0)
    : requested;
  if (!Number.isInteger(workers) || workers < 0) {
    throw new RangeError(`threads must be a non-negative integer or "auto", got ${requested}`);
  }
  workers = Math.min(workers, 16);
  pool?.stop();
  pool = undefined;
  if (workers > 0) {
    pool = await startKernelThreads({ workers, minParallelFlops: options.minParallelFlops });
  }
  installFastKernels(pool?.runner ?? runOnHeap);
}

/**
 * Worker threads our kernels use now (0 when single-threaded or not registered).
 *
 * @returns the number of worker threads
 */
export function fastKernelThreads(): number {
  return pool?.workers ?? 0;
}

/** Restores the kernels that {@link registerFastKernels} replaced and stops its worker threads. */
export function unregisterFastKernels(): void {
  pool?.stop();
  pool = undefined;
  for (const [kernelName, previous] of replaced) {
    if (getKernel(kernelName, BACKEND) !== undefined) unregisterKernel(kernelName, BACKEND);
    if (previous !== undefined) registerKernel(previous);
  }
  replaced.clear();
}

/**
 * Whether our kernels are registered now.
 *
 * @returns true between registerFastKernels() and unregisterFastKernels()
 */
export function fastKernelsRegistered(): boolean {
  return replaced.size > 0;
}

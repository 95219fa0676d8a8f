/**
 * Fast tfjs-wasm kernels: a WebAssembly SIMD batched matrix product (every transpose flag and batch
 * shape, optionally split over worker threads) and an UnsortedSegmentSum, compiled from
 * kernels/gemm.c. One call switches them on:
 *
 * ```ts
 * await registerFastKernels(); // after importing @tensorflow/tfjs-backend-wasm
 * ```
 *
 * @module
 */
export {
  type FastKernelOptions,
  fastKernelsRegistered,
  fastKernelThreads,
  installFastKernels,
  registerFastKernels,
  unregisterFastKernels,
} from "./register.ts";
export { type GemmJob, type GemmRunner, planBatchMatMul, runOnHeap } from "./batch_mat_mul.ts";
export {
  DEFAULT_MIN_PARALLEL_FLOPS,
  type KernelThreadOptions,
  type KernelThreads,
  kernelThreadsSupported,
  startKernelThreads,
} from "./thread_pool.ts";

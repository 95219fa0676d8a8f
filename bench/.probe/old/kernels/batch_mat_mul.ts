/**
 * A BatchMatMul kernel for tfjs-wasm that runs every flag combination and batch shape on our SIMD
 * product (kernels/gemm.c), where tfjs-wasm itself only sends the untransposed, unbatched case to
 * XNNPACK and runs a scalar loop otherwise.
 *
 * @module
 */
import {
  backend_util,
  type BatchMatMulAttrs,
  type KernelFunc,
  type TensorInfo,
  util,
} from "@tensorflow/tfjs-core";
import { heapKernels, offsetOf, type WasmBackendLike } from "./wasm_heap.ts";

/** One batched product in element strides, as gemm_batched takes it. */
export interface GemmJob {
  /** Number of matrices. */
  batch: number;
  /** Rows of C. */
  m: number;
  /** Columns of C. */
  n: number;
  /** Inner dimension. */
  k: number;
  /** Batch, row and inner strides of A (in floats); a batch stride of 0 broadcasts. */
  bsa: number;
  rsa: number;
  csa: number;
  /** Batch, inner and column strides of B (in floats). */
  bsb: number;
  rsb: number;
  csb: number;
}

/**
 * Describes op(A) op(B) for tfjs shapes and flags, or returns null when the batch dimensions need a
 * general broadcast (only equal batches, or one side with a single matrix, are handled here).
 *
 * @param aShape shape of A (rank >= 2)
 * @param bShape shape of B (rank >= 2)
 * @param transposeA whether A's last two dimensions are swapped
 * @param transposeB whether B's last two dimensions are swapped
 * @returns the job and the output shape, or null
 */
export function planBatchMatMul(
  aShape: number[],
  bShape: number[],
  transposeA: boolean,
  transposeB: boolean,
): { job: GemmJob; outShape: number[] } | null {
  const ra = aShape.length;
  const rb = bShape.length;
  const m = transposeA ? aShape[ra - 1] : aShape[ra - 2];
  const k = transposeA ? aShape[ra - 2] : aShape[ra - 1];
  const kb = transposeB ? bShape[rb - 1] : bShape[rb - 2];
  const n = transposeB ? bShape[rb - 2] : bShape[rb - 1];
  if (k !== kb) {
    throw new Error(
      `Error in matMul: inner shapes (${k}) and (${kb}) of Tensors with shapes ${aShape} and ` +
        `${bShape} and transposeA=${transposeA} and transposeB=${transposeB} must match`,
    );
  }
  const outerA = aShape.slice(0, -2);
  const outerB = bShape.slice(0, -2);
  const outer = backend_util.assertAndGetBroadcastShape(outerA, outerB);
  const batchA = util.sizeFromShape(outerA);
  const batchB = util.sizeFromShape(outerB);
  const batch = util.sizeFromShape(outer);
  if (!(batchA === batch || batchA === 1) || !(batchB === batch || batchB === 1)) return null;
  const job: GemmJob = {
    batch,
    m,
    n,
    k,
    bsa: batchA === 1 ? 0 : m * k,
    rsa: transposeA ? 1 : k,
    csa: transposeA ? m : 1,
    bsb: batchB === 1 ? 0 : k * n,
    rsb: transposeB ? 1 : n,
    csb: transposeB ? k : 1,
  };
  return { job, outShape: [...outer, m, n] };
}

/** Runs a planned product given byte offsets of A, B and C; the threaded runner replaces it. */
export type GemmRunner = (
  backend: WasmBackendLike,
  job: GemmJob,
  a: number,
  b: number,
  c: number,
) => void;

/** Runs the whole product on the calling thread, in place on the tfjs heap. */
export const runOnHeap: GemmRunner = (backend, job, a, b, c) => {
  const { gemm, scratch } = heapKernels(backend);
  const { batch, m, n, k, bsa, rsa, csa, bsb, rsb, csb } = job;
  gemm.gemm_batched(0, batch, 0, m, m, n, k, a, bsa, rsa, csa, b, bsb, rsb, csb, c, scratch);
};

/**
 * Makes the BatchMatMul kernel function.
 *
 * @param fallback tfjs-wasm's own kernel, used for non-float32 inputs and general broadcasts
 * @param runner how the product is executed (on the heap, or split over worker threads)
 * @returns the kernel function to register
 */
export function makeBatchMatMul(fallback: KernelFunc, runner: GemmRunner): KernelFunc {
  return (args) => {
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    const { transposeA, transposeB } = args.attrs as unknown as BatchMatMulAttrs;
    if (a.dtype !== "float32" || b.dtype !== "float32") return fallback(args);
    const plan = planBatchMatMul(a.shape, b.shape, transposeA, transposeB);
    if (plan === null) return fallback(args);
    const backend = args.backend as unknown as WasmBackendLike;
    const out = backend.makeOutput(plan.outShape, "float32");
    if (util.sizeFromShape(plan.outShape) > 0) {
      runner(backend, plan.job, offsetOf(backend, a), offsetOf(backend, b), offsetOf(backend, out));
    }
    return out;
  };
}

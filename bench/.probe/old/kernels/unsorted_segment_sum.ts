/**
 * An UnsortedSegmentSum kernel for tfjs-wasm, which ships none; it is the gradient of tf.gather, so
 * without it an embedding lookup cannot be trained on the wasm backend.
 *
 * @module
 */
import {
  type KernelFunc,
  type TensorInfo,
  type UnsortedSegmentSumAttrs,
  util,
} from "@tensorflow/tfjs-core";
import { heapKernels, offsetOf, type WasmBackendLike } from "./wasm_heap.ts";

/**
 * The kernel function: out[s] = sum of x[i] over i with segmentIds[i] == s, out of shape
 * [numSegments, ...x.shape[1:]]; ids outside [0, numSegments) are dropped, as in TensorFlow.
 */
export const unsortedSegmentSum: KernelFunc = (args) => {
  const { x, segmentIds } = args.inputs as { x: TensorInfo; segmentIds: TensorInfo };
  const { numSegments } = args.attrs as unknown as UnsortedSegmentSumAttrs;
  if (x.dtype !== "float32" || segmentIds.dtype !== "int32") {
    throw new Error(
      `UnsortedSegmentSum on wasm expects float32 x and int32 segmentIds, got ${x.dtype} and ` +
        `${segmentIds.dtype}`,
    );
  }
  const rows = segmentIds.shape.length === 0 ? 1 : util.sizeFromShape(segmentIds.shape);
  const width = rows === 0 ? 0 : util.sizeFromShape(x.shape) / rows;
  if (!Number.isInteger(width)) {
    throw new Error(`UnsortedSegmentSum: x of shape ${x.shape} does not split into ${rows} rows`);
  }
  const backend = args.backend as unknown as WasmBackendLike;
  const outShape = [numSegments, ...x.shape.slice(segmentIds.shape.length)];
  const out = backend.makeOutput(outShape, "float32");
  if (util.sizeFromShape(outShape) > 0) {
    const { gemm } = heapKernels(backend);
    gemm.unsorted_segment_sum(
      offsetOf(backend, x),
      offsetOf(backend, segmentIds),
      rows,
      width,
      numSegments,
      offsetOf(backend, out),
    );
  }
  return out;
};

/**
 * AdamW's update and the gradients' squared norm as WebAssembly SIMD kernels (kernels/gemm.c)
 * on tfjs-wasm's heap: one pass per tensor, the moments updated in place, no copies to the host.
 * stages/adamw.ts uses them when the backend is tfjs-wasm.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { heapKernels, offsetOf, type WasmBackendLike } from "./wasm_heap.ts";

/** AdamW's per-step constants (see kernels/gemm.c `adamw_f32`). */
export interface AdamWConstants {
  /** Gradient scale (global-norm clipping; 1 when unclipped). */
  scale: number;
  /** First-moment decay. */
  beta1: number;
  /** Second-moment decay. */
  beta2: number;
  /** 1 - lr · weight decay (1 for tensors that do not decay). */
  keep: number;
  /** lr / (1 - beta1^t). */
  stepSize: number;
  /** 1 / (1 - beta2^t). */
  vScale: number;
  /** Added to the root of the second moment. */
  epsilon: number;
}

/**
 * The tfjs-wasm backend when it is the active one and exposes its heap to our kernels, else null.
 *
 * @returns the backend, or null
 */
export function activeWasmHeap(): WasmBackendLike | null {
  if (tf.getBackend() !== "wasm") return null;
  const backend = tf.backend() as unknown as WasmBackendLike;
  try {
    heapKernels(backend);
    return backend;
  } catch {
    return null;
  }
}

/**
 * The sum of the squares of a float32 tensor's entries.
 *
 * @param backend the active tfjs-wasm backend
 * @param x the tensor
 * @returns Σ x²
 */
export function sumSquaresOnHeap(backend: WasmBackendLike, x: tf.Tensor): number {
  return heapKernels(backend).gemm.sum_squares_f32(offsetOf(backend, x), x.size);
}

/**
 * One AdamW step of one tensor: updates the moments `m` and `v` in place (they must be tensors
 * nobody else reads) and returns the new parameter values as a new tensor.
 *
 * @param backend the active tfjs-wasm backend
 * @param tensors the parameter, its gradient and its two moments (float32, same size)
 * @param constants the step's constants
 * @returns the updated parameter (the caller owns it)
 */
export function adamwOnHeap(
  backend: WasmBackendLike,
  tensors: { p: tf.Tensor; g: tf.Tensor; m: tf.Tensor; v: tf.Tensor },
  constants: AdamWConstants,
): tf.Tensor {
  const { p, g, m, v } = tensors;
  for (const t of [g, m, v]) {
    if (t.size !== p.size || t.dtype !== "float32") {
      throw new RangeError(`adamwOnHeap: expected float32 tensors of ${p.size} values`);
    }
  }
  const info = backend.makeOutput(p.shape, "float32");
  const out = tf.engine().makeTensorFromTensorInfo(info);
  const c = constants;
  heapKernels(backend).gemm.adamw_f32(
    offsetOf(backend, p),
    offsetOf(backend, g),
    offsetOf(backend, m),
    offsetOf(backend, v),
    offsetOf(backend, out),
    p.size,
    c.scale,
    c.beta1,
    c.beta2,
    c.keep,
    c.stepSize,
    c.vScale,
    c.epsilon,
  );
  return out;
}

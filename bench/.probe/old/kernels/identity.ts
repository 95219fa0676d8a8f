/**
 * An Identity kernel for tfjs-wasm that shares its input's buffer instead of copying it.
 *
 * tfjs-wasm 4.22's Identity copies the whole tensor, and autograd runs Identity for every tensor a
 * custom gradient saves and for every custom-gradient output: on a GPT train step that is several
 * copies of each [rows, vocab] logits tensor, most of the step's peak memory. Tensors are immutable
 * and the backend counts references per buffer (as its own Reshape does), so sharing is safe.
 * @module
 */
import type { KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";

/** The part of tfjs-wasm's backend this kernel uses. */
interface RefCountingBackend {
  incRef(dataId: object): void;
}

/**
 * Makes the sharing Identity kernel.
 * @param fallback tfjs-wasm's own Identity, kept for string tensors (not on the heap)
 * @returns the kernel function
 */
export function makeIdentity(fallback: KernelFunc): KernelFunc {
  return (args) => {
    const x = args.inputs.x as TensorInfo;
    if (x.dtype === "string") return fallback(args);
    (args.backend as unknown as RefCountingBackend).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
}

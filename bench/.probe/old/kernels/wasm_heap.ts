/**
 * The slice of tfjs-wasm's backend object the kernels use, and per-backend kernel state.
 *
 * The wasm backend keeps every tensor on the heap of its emscripten module; `dataIdMap` gives each
 * tensor's byte offset there, and the module exports that heap as a `WebAssembly.Memory`, which our
 * own kernels import so they read and write tensors in place without copies.
 *
 * @module
 */
import type { DataId, TensorInfo } from "@tensorflow/tfjs-core";
import { type GemmExports, instantiateGemm } from "./gemm_module.ts";

/** The fields of tfjs-wasm's BackendWasm the kernels touch (tfjs 4.22). */
export interface WasmBackendLike {
  /** Tensor records: `memoryOffset` is the byte offset of the data on the heap. */
  dataIdMap: { get(dataId: DataId): { memoryOffset: number } | undefined };
  /** The emscripten module. */
  wasm: {
    asm?: { memory?: WebAssembly.Memory };
    _malloc(bytes: number): number;
  };
  /** Allocates an output tensor on the heap. */
  makeOutput(shape: number[], dtype: "float32" | "int32"): TensorInfo;
}

/** Kernel state bound to one backend instance: our kernels on its heap and their scratch. */
export interface HeapKernels {
  /** tfjs-wasm's heap. */
  memory: WebAssembly.Memory;
  /** Our kernels instantiated on that heap. */
  gemm: GemmExports;
  /** Byte offset of the product's packing scratch (allocated once, never freed). */
  scratch: number;
}

const states = new WeakMap<object, HeapKernels>();

/**
 * Our kernels on the heap of `backend`, instantiated on first use.
 *
 * @param backend the tfjs-wasm backend a kernel was called with
 * @returns the kernels and their scratch
 */
export function heapKernels(backend: WasmBackendLike): HeapKernels {
  let state = states.get(backend);
  if (state === undefined) {
    const memory = backend.wasm.asm?.memory;
    if (!(memory instanceof WebAssembly.Memory)) {
      throw new Error(
        "The tfjs-wasm module exports no memory: unsupported tfjs-backend-wasm version",
      );
    }
    const gemm = instantiateGemm(memory);
    const scratch = backend.wasm._malloc(gemm.gemm_scratch_floats() * 4) >>> 0;
    state = { memory, gemm, scratch };
    states.set(backend, state);
  }
  return state;
}

/**
 * Byte offset of a tensor's data on the wasm heap.
 *
 * @param backend the tfjs-wasm backend
 * @param t the tensor
 * @returns the byte offset
 */
export function offsetOf(backend: WasmBackendLike, t: TensorInfo): number {
  const record = backend.dataIdMap.get(t.dataId);
  if (record === undefined) throw new Error("Tensor data is not on the wasm backend");
  return record.memoryOffset >>> 0;
}

/**
 * Instantiates the compiled kernels (kernels/gemm.c) on a given WebAssembly memory.
 *
 * @module
 */
import { GEMM_SHARED_WASM_BASE64, GEMM_WASM_BASE64 } from "./gemm_wasm.ts";

/** The functions exported by gemm.wasm; pointers are byte offsets into the imported memory. */
export interface GemmExports {
  /** Floats of scratch that one gemm_batched call needs. */
  gemm_scratch_floats(): number;
  /** Batched strided product; see kernels/gemm.c for the argument order. */
  gemm_batched(
    b0: number,
    b1: number,
    m0: number,
    m1: number,
    m: number,
    n: number,
    k: number,
    a: number,
    bsa: number,
    rsa: number,
    csa: number,
    b: number,
    bsb: number,
    rsb: number,
    csb: number,
    c: number,
    scratch: number,
  ): void;
  /** out[s] = sum of rows x[i] with ids[i] == s. */
  unsorted_segment_sum(
    x: number,
    ids: number,
    rows: number,
    width: number,
    segments: number,
    out: number,
  ): void;
  /** out[i] = e^x[i]. */
  exp_f32(x: number, size: number, out: number): void;
  /** out[i] = tanh(x[i]). */
  tanh_f32(x: number, size: number, out: number): void;
  /** out[i] = x[i]^n for a small non-negative integer n. */
  pow_int_f32(x: number, size: number, n: number, out: number): void;
  /** out[j] = sum over i of x[i, j] for x [rows, width]. */
  sum_rows_f32(x: number, rows: number, width: number, out: number): void;
  /** AdamW's update of one tensor (moments in place); see kernels/gemm.c. */
  adamw_f32(
    p: number,
    g: number,
    m: number,
    v: number,
    out: number,
    size: number,
    scale: number,
    b1: number,
    b2: number,
    keep: number,
    stepSize: number,
    vScale: number,
    eps: number,
  ): void;
  /** The sum of x[i]² (in double). */
  sum_squares_f32(x: number, size: number): number;
}

function decode(base64: string): Uint8Array<ArrayBuffer> {
  const text = atob(base64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

const cache = new Map<boolean, WebAssembly.Module>();

/**
 * The compiled module for a plain or a shared memory (compiled once, synchronously: it is small).
 *
 * @param shared whether the module must import a shared memory
 * @returns the compiled module
 */
export function gemmModule(shared: boolean): WebAssembly.Module {
  let module = cache.get(shared);
  if (module === undefined) {
    module = new WebAssembly.Module(decode(shared ? GEMM_SHARED_WASM_BASE64 : GEMM_WASM_BASE64));
    cache.set(shared, module);
  }
  return module;
}

/**
 * Instantiates the kernels on `memory` (shared memories get the shared build).
 *
 * @param memory the memory the kernels read and write
 * @param module an already compiled module to reuse (e.g. one posted to a worker)
 * @returns the kernel functions
 */
export function instantiateGemm(
  memory: WebAssembly.Memory,
  module?: WebAssembly.Module,
): GemmExports {
  const shared = typeof SharedArrayBuffer !== "undefined" &&
    memory.buffer instanceof SharedArrayBuffer;
  const instance = new WebAssembly.Instance(module ?? gemmModule(shared), { env: { memory } });
  return instance.exports as unknown as GemmExports;
}

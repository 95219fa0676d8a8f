/**
 * Exp, Tanh, Pow and Sum kernels for tfjs-wasm on WebAssembly SIMD (kernels/gemm.c). tfjs-wasm
 * evaluates the first three with one scalar libm call per element and sums over leading axes by
 * transposing first, which made them a visible share of a GPT train step (softmax over the
 * vocabulary, gelu's tanh and cube, bias and LayerNorm gradients).
 *
 * @module
 */
import { type KernelFunc, type SumAttrs, type TensorInfo, util } from "@tensorflow/tfjs-core";
import { heapKernels, offsetOf, type WasmBackendLike } from "./wasm_heap.ts";

/** Largest integer exponent Pow handles by repeated multiplication. */
const MAX_INT_EXPONENT = 8;

function unary(name: "exp_f32" | "tanh_f32", fallback: KernelFunc): KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    if (x.dtype !== "float32") return fallback(args);
    const backend = args.backend as unknown as WasmBackendLike;
    const out = backend.makeOutput(x.shape, "float32");
    const size = util.sizeFromShape(x.shape);
    if (size > 0) {
      heapKernels(backend).gemm[name](offsetOf(backend, x), size, offsetOf(backend, out));
    }
    return out;
  };
}

/**
 * Makes the Exp kernel (Cephes' expf in SIMD; float32 only).
 *
 * @param fallback tfjs-wasm's kernel, for other dtypes
 * @returns the kernel function
 */
export function makeExp(fallback: KernelFunc): KernelFunc {
  return unary("exp_f32", fallback);
}

/**
 * Makes the Tanh kernel (Cephes' tanhf in SIMD; float32 only).
 *
 * @param fallback tfjs-wasm's kernel, for other dtypes
 * @returns the kernel function
 */
export function makeTanh(fallback: KernelFunc): KernelFunc {
  return unary("tanh_f32", fallback);
}

/**
 * Makes the Pow kernel: a float32 base raised to a scalar exponent that is a small non-negative
 * integer (as in gelu's x³ and its gradient's x²) is computed by multiplication; everything else
 * goes to tfjs-wasm's kernel.
 *
 * @param fallback tfjs-wasm's kernel
 * @returns the kernel function
 */
export function makePow(fallback: KernelFunc): KernelFunc {
  return (args) => {
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    if (a.dtype !== "float32" || util.sizeFromShape(b.shape) !== 1) return fallback(args);
    if (b.shape.length > a.shape.length) return fallback(args);
    const backend = args.backend as unknown as WasmBackendLike;
    const { memory, gemm } = heapKernels(backend);
    const at = offsetOf(backend, b);
    const exponent = b.dtype === "int32"
      ? new Int32Array(memory.buffer, at, 1)[0]
      : b.dtype === "float32"
      ? new Float32Array(memory.buffer, at, 1)[0]
      : NaN;
    if (!(Number.isInteger(exponent) && exponent >= 0 && exponent <= MAX_INT_EXPONENT)) {
      return fallback(args);
    }
    const out = backend.makeOutput(a.shape, "float32");
    const size = util.sizeFromShape(a.shape);
    if (size > 0) gemm.pow_int_f32(offsetOf(backend, a), size, exponent, offsetOf(backend, out));
    return out;
  };
}

/**
 * Makes the Sum kernel: a float32 sum over leading axes (e.g. a bias gradient, axis 0 of
 * [N, C]) runs as SIMD column sums; other axes go to tfjs-wasm's kernel.
 *
 * @param fallback tfjs-wasm's kernel
 * @returns the kernel function
 */
export function makeSum(fallback: KernelFunc): KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const { axis, keepDims } = args.attrs as unknown as SumAttrs;
    const rank = x.shape.length;
    const axes = util.parseAxisParam(axis, x.shape).sort((p, q) => p - q);
    const leading = axes.length > 0 && axes.length < rank && axes.every((a, i) => a === i);
    if (x.dtype !== "float32" || !leading) return fallback(args);
    const backend = args.backend as unknown as WasmBackendLike;
    const kept = x.shape.slice(axes.length);
    const outShape = keepDims ? [...axes.map(() => 1), ...kept] : kept;
    const out = backend.makeOutput(outShape, "float32");
    const width = util.sizeFromShape(kept);
    const rows = util.sizeFromShape(x.shape.slice(0, axes.length));
    if (width > 0) {
      heapKernels(backend).gemm.sum_rows_f32(
        offsetOf(backend, x),
        rows,
        width,
        offsetOf(backend, out),
      );
    }
    return out;
  };
}

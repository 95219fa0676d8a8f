/**
 * AdamW (decoupled weight decay, as PyTorch's `torch.optim.AdamW`) with gradient-norm clipping.
 * @module
 */
/** @ignore tfjs documents its own types; we reference them, not re-export them. */
import * as tf from "@tensorflow/tfjs-core";
import {
  activeWasmHeap,
  type AdamWConstants,
  adamwOnHeap,
  sumSquaresOnHeap,
} from "../kernels/adamw.ts";
import type { WasmBackendLike } from "../kernels/wasm_heap.ts";

/** Options of {@linkcode AdamW}. */
export interface AdamWOptions {
  /** Step size (the driver lowers it during the run). */
  learningRate: number;
  /** Decay rate of the first-moment (mean) estimate. @default 0.9 */
  beta1?: number;
  /** Decay rate of the second-moment (uncentred variance) estimate. @default 0.999 */
  beta2?: number;
  /** Added to √(second moment) so near-zero gradients don't blow up the step. @default 1e-8 */
  epsilon?: number;
  /** Decoupled weight decay. @default 0.01 */
  weightDecay?: number;
  /**
   * Which variables decay. Default: rank >= 2 (weights and embeddings), so biases and
   * LayerNorm gains and biases (rank 1) do not (nanoGPT's rule).
   */
  decays?: (variable: tf.Variable) => boolean;
}

/**
 * AdamW over a fixed list of variables. On tfjs-wasm the moments are tensors on its heap and
 * each step is one SIMD pass per variable (kernels/adamw.ts); on other backends the moments are
 * host Float32Arrays and the step is a loop over host copies.
 */
export class AdamW {
  /** The current learning rate. */
  learningRate: number;
  /** The variables it updates, in the order `step` expects their gradients. */
  readonly variables: readonly tf.Variable[];
  // heap: tensors the kernel updates in place (never handed out); host: plain arrays
  #heap: WasmBackendLike | null;
  #m: (tf.Tensor | Float32Array)[];
  #v: (tf.Tensor | Float32Array)[];
  #decay: boolean[];
  #step = 0;
  #beta1: number;
  #beta2: number;
  #epsilon: number;
  #weightDecay: number;

  /**
   * Creates zeroed first and second moments for each variable.
   *
   * @param variables the variables this optimizer updates
   * @param options hyperparameters
   */
  constructor(variables: readonly tf.Variable[], options: AdamWOptions) {
    this.variables = variables;
    this.learningRate = options.learningRate;
    this.#beta1 = options.beta1 ?? 0.9;
    this.#beta2 = options.beta2 ?? 0.999;
    this.#epsilon = options.epsilon ?? 1e-8;
    this.#weightDecay = options.weightDecay ?? 0.01;
    const decays = options.decays ?? ((v: tf.Variable) => v.rank >= 2);
    this.#decay = variables.map(decays);
    this.#heap = variables.every((v) => v.dtype === "float32") ? activeWasmHeap() : null;
    this.#m = variables.map((v) => this.#zeros(v.size));
    this.#v = variables.map((v) => this.#zeros(v.size));
  }

  #zeros(size: number): tf.Tensor | Float32Array {
    return this.#heap ? tf.zeros([size]) : new Float32Array(size);
  }

  /** Number of steps taken. */
  get steps(): number {
    return this.#step;
  }

  /**
   * One step. `grads[i]` belongs to `variables[i]`; null means no gradient (skipped).
   * With `maxGradNorm`, the gradients are first scaled so that their global L2 norm is
   * at most that (PyTorch's `clip_grad_norm_`). The caller keeps ownership of `grads`.
   *
   * @param grads the gradients
   * @param options the clipping norm
   * @returns the gradients' global L2 norm before clipping
   */
  step(grads: readonly (tf.Tensor | null)[], options: { maxGradNorm?: number } = {}): number {
    if (grads.length !== this.variables.length) {
      throw new RangeError(`Expected ${this.variables.length} gradients, got ${grads.length}`);
    }
    if (this.#heap && tf.getBackend() !== "wasm") {
      throw new Error(
        `AdamW keeps its moments on the wasm backend, but the active backend is ${tf.getBackend()}`,
      );
    }
    const norm = globalNorm(grads);
    const max = options.maxGradNorm ?? Infinity;
    const scale = norm > max ? max / (norm + 1e-6) : 1;
    this.#step++;
    const lr = this.learningRate;
    const constants = {
      scale,
      beta1: this.#beta1,
      beta2: this.#beta2,
      keep: 1,
      // bias corrections folded into the step size and the second moment's scale
      stepSize: lr / (1 - this.#beta1 ** this.#step),
      vScale: 1 / (1 - this.#beta2 ** this.#step),
      epsilon: this.#epsilon,
    };
    grads.forEach((grad, i) => {
      if (grad === null) return;
      const variable = this.variables[i];
      const c = { ...constants, keep: this.#decay[i] ? 1 - lr * this.#weightDecay : 1 };
      const [m, v] = [this.#m[i], this.#v[i]];
      if (this.#heap) {
        const g = grad.dtype === "float32" ? grad : tf.cast(grad, "float32");
        const next = adamwOnHeap(this.#heap, {
          p: variable,
          g,
          m: m as tf.Tensor,
          v: v as tf.Tensor,
        }, c);
        variable.assign(next); // next has the variable's shape; the variable now holds its data
        tf.dispose(g === grad ? [next] : [next, g]);
      } else {
        hostStep(variable, grad.dataSync(), m as Float32Array, v as Float32Array, c);
      }
    });
    return norm;
  }

  /** The step count and copies of the moments (for a checkpoint). */
  getState(): { step: number; m: Float32Array[]; v: Float32Array[] } {
    const copy = (x: tf.Tensor | Float32Array) =>
      x instanceof Float32Array ? x.slice() : Float32Array.from(x.dataSync());
    return { step: this.#step, m: this.#m.map(copy), v: this.#v.map(copy) };
  }

  /**
   * Restores {@linkcode AdamW.getState}'s output (same variables, same order).
   * @param state the saved step count and moments
   */
  setState(state: { step: number; m: Float32Array[]; v: Float32Array[] }): void {
    if (state.m.length !== this.#m.length || state.v.length !== this.#v.length) {
      throw new RangeError(
        `Optimizer state has ${state.m.length} moments, expected ${this.#m.length}`,
      );
    }
    state.m.forEach((m, i) => {
      const size = this.variables[i].size;
      if (m.length !== size || state.v[i].length !== size) {
        throw new RangeError(
          `Optimizer state moment ${i} has ${m.length} values, expected ${size}`,
        );
      }
    });
    this.dispose();
    this.#step = state.step;
    const load = (x: Float32Array) => this.#heap ? tf.tensor1d(x) : Float32Array.from(x);
    this.#m = state.m.map(load);
    this.#v = state.v.map(load);
  }

  /** Frees the moments. */
  dispose(): void {
    for (const x of [...this.#m, ...this.#v]) if (!(x instanceof Float32Array)) x.dispose();
    this.#m = [];
    this.#v = [];
  }
}

/** AdamW on host copies: the moments in place, the new values assigned to the variable. */
function hostStep(
  variable: tf.Variable,
  g: ArrayLike<number>,
  m: Float32Array,
  v: Float32Array,
  c: AdamWConstants,
): void {
  const p = variable.dataSync();
  const next = new Float32Array(p.length);
  const { scale, beta1: b1, beta2: b2, keep, stepSize, vScale, epsilon: eps } = c;
  for (let j = 0; j < p.length; j++) {
    const gj = g[j] * scale;
    const mj = b1 * m[j] + (1 - b1) * gj;
    const vj = b2 * v[j] + (1 - b2) * gj * gj;
    m[j] = mj;
    v[j] = vj;
    next[j] = p[j] * keep - stepSize * mj / (Math.sqrt(vj * vScale) + eps);
  }
  tf.tidy(() => variable.assign(tf.tensor(next, variable.shape)));
}

/**
 * The global L2 norm of gradients, summed on the host.
 * @param grads the gradients (null entries are skipped)
 * @returns the norm
 */
export function globalNorm(grads: readonly (tf.Tensor | null)[]): number {
  const heap = activeWasmHeap();
  let sumSq = 0;
  for (const grad of grads) {
    if (grad === null) continue;
    if (heap && grad.dtype === "float32") {
      sumSq += sumSquaresOnHeap(heap, grad);
      continue;
    }
    const g = grad.dataSync();
    for (let j = 0; j < g.length; j++) sumSq += g[j] * g[j];
  }
  return Math.sqrt(sumSq);
}

/**
 * Scales gradients so that their global L2 norm is at most `maxNorm` (PyTorch's
 * `clip_grad_norm_`). Returns new tensors the caller disposes, and the norm before clipping.
 *
 * @param grads the gradients (null entries are passed through)
 * @param maxNorm the largest allowed norm
 * @returns the clipped gradients and the original norm
 */
export function clipGradNorm(
  grads: readonly (tf.Tensor | null)[],
  maxNorm: number,
): { grads: (tf.Tensor | null)[]; norm: number } {
  const norm = globalNorm(grads);
  const scale = norm > maxNorm ? maxNorm / (norm + 1e-6) : 1;
  return { grads: grads.map((g) => g === null ? null : tf.mul(g, scale)), norm };
}

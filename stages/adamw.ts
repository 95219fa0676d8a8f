/**
 * AdamW (decoupled weight decay, as PyTorch's `torch.optim.AdamW`) with gradient-norm clipping.
 * @module
 */
/** @ignore tfjs documents its own types; we reference them, not re-export them. */
import * as tf from "@tensorflow/tfjs-core";

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
 * AdamW over a fixed list of variables. The moments live on the host (plain
 * Float32Arrays), not on the tfjs backend: a wasm backend has one 4 GiB heap,
 * which GPT-2 small's weights, gradients and two moments would not fit.
 */
export class AdamW {
  /** The current learning rate. */
  learningRate: number;
  /** The variables it updates, in the order `step` expects their gradients. */
  readonly variables: readonly tf.Variable[];
  #m: Float32Array[];
  #v: Float32Array[];
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
    this.#m = variables.map((v) => new Float32Array(v.size));
    this.#v = variables.map((v) => new Float32Array(v.size));
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
    const norm = globalNorm(grads);
    const max = options.maxGradNorm ?? Infinity;
    const scale = norm > max ? max / (norm + 1e-6) : 1;
    this.#step++;
    const b1 = this.#beta1, b2 = this.#beta2, lr = this.learningRate, eps = this.#epsilon;
    // bias corrections folded into the step size and the second moment's scale
    const stepSize = lr / (1 - b1 ** this.#step), vScale = 1 / (1 - b2 ** this.#step);
    grads.forEach((grad, i) => {
      if (grad === null) return;
      const variable = this.variables[i], m = this.#m[i], v = this.#v[i];
      const g = grad.dataSync(), p = variable.dataSync();
      const keep = this.#decay[i] ? 1 - lr * this.#weightDecay : 1;
      const next = new Float32Array(p.length);
      for (let j = 0; j < p.length; j++) {
        const gj = g[j] * scale;
        const mj = b1 * m[j] + (1 - b1) * gj;
        const vj = b2 * v[j] + (1 - b2) * gj * gj;
        m[j] = mj;
        v[j] = vj;
        next[j] = p[j] * keep - stepSize * mj / (Math.sqrt(vj * vScale) + eps);
      }
      tf.tidy(() => variable.assign(tf.tensor(next, variable.shape)));
    });
    return norm;
  }

  /** The step count and copies of the moments (for a checkpoint). */
  getState(): { step: number; m: Float32Array[]; v: Float32Array[] } {
    return { step: this.#step, m: this.#m.map((m) => m.slice()), v: this.#v.map((v) => v.slice()) };
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
      if (m.length !== this.#m[i].length || state.v[i].length !== this.#v[i].length) {
        throw new RangeError(
          `Optimizer state moment ${i} has ${m.length} values, expected ${this.#m[i].length}`,
        );
      }
    });
    this.#step = state.step;
    this.#m = state.m.map((m) => Float32Array.from(m));
    this.#v = state.v.map((v) => Float32Array.from(v));
  }

  /** Frees the moments (kept for symmetry with tfjs optimizers; they are host memory). */
  dispose(): void {
    this.#m = this.#m.map(() => new Float32Array(0));
    this.#v = this.#v.map(() => new Float32Array(0));
  }
}

/**
 * The global L2 norm of gradients, summed on the host.
 * @param grads the gradients (null entries are skipped)
 * @returns the norm
 */
export function globalNorm(grads: readonly (tf.Tensor | null)[]): number {
  let sumSq = 0;
  for (const grad of grads) {
    if (grad === null) continue;
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

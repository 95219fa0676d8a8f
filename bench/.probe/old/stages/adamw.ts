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
 * AdamW over a fixed list of variables. Owns its moment tensors: call `dispose()`.
 */
export class AdamW {
  /** The current learning rate. */
  learningRate: number;
  /** The variables it updates, in the order `step` expects their gradients. */
  readonly variables: readonly tf.Variable[];
  #m: tf.Variable[];
  #v: tf.Variable[];
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
    // tidy frees the zeros a variable is initialised from (variables are not tracked).
    this.#m = variables.map((v) => tf.tidy(() => tf.variable(tf.zerosLike(v), false)));
    this.#v = variables.map((v) => tf.tidy(() => tf.variable(tf.zerosLike(v), false)));
  }

  /** Number of steps taken. */
  get steps(): number {
    return this.#step;
  }

  /**
   * One step. `grads[i]` belongs to `variables[i]`; null means no gradient (skipped).
   * The caller keeps ownership of `grads`.
   *
   * @param grads the gradients
   */
  step(grads: readonly (tf.Tensor | null)[]): void {
    if (grads.length !== this.variables.length) {
      throw new RangeError(`Expected ${this.variables.length} gradients, got ${grads.length}`);
    }
    this.#step++;
    const b1 = this.#beta1, b2 = this.#beta2, lr = this.learningRate;
    const c1 = 1 - b1 ** this.#step, c2 = 1 - b2 ** this.#step;
    tf.tidy(() => {
      grads.forEach((g, i) => {
        if (g === null) return;
        const p = this.variables[i], m = this.#m[i], v = this.#v[i];
        m.assign(tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1)));
        v.assign(tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2)));
        const update = tf.div(tf.div(m, c1), tf.add(tf.sqrt(tf.div(v, c2)), this.#epsilon));
        const decayed = this.#decay[i] ? tf.mul(p, 1 - lr * this.#weightDecay) : p;
        p.assign(tf.sub(decayed, tf.mul(update, lr)));
      });
    });
  }

  /** The step count and moment tensors copied to the host (for a checkpoint). */
  getState(): { step: number; m: Float32Array[]; v: Float32Array[] } {
    return {
      step: this.#step,
      m: this.#m.map((t) => t.dataSync() as Float32Array),
      v: this.#v.map((t) => t.dataSync() as Float32Array),
    };
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
    this.#step = state.step;
    tf.tidy(() => {
      this.#m.forEach((t, i) => t.assign(tf.tensor(state.m[i], t.shape)));
      this.#v.forEach((t, i) => t.assign(tf.tensor(state.v[i], t.shape)));
    });
  }

  /** Frees the moment tensors. */
  dispose(): void {
    for (const t of [...this.#m, ...this.#v]) t.dispose();
  }
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
  const present = grads.filter((g): g is tf.Tensor => g !== null);
  if (present.length === 0) return { grads: grads.map(() => null), norm: 0 };
  const normTensor = tf.tidy(() => tf.sqrt(tf.addN(present.map((g) => tf.sum(tf.square(g))))));
  const norm = normTensor.dataSync()[0];
  normTensor.dispose();
  const scale = norm > maxNorm ? maxNorm / (norm + 1e-6) : 1;
  return { grads: grads.map((g) => g === null ? null : tf.mul(g, scale)), norm };
}

/**
 * What both engines share for a gradient step: the forward and backward
 * sessions of one training graph pair, run synchronously, the forward's saved
 * activations held until the backward reads them, and the value head's
 * variables fed as graph inputs. Feed helpers too.
 * @module
 */
/** @ignore onnxruntime documents its own types; we reference them, not re-export them. */
import * as ort from "onnxruntime-node";
/** @ignore tfjs documents its own types; we reference them, not re-export them. */
import type * as tf from "@tensorflow/tfjs-core";
import type { TrainingModels } from "../graph/autodiff.ts";
import { SyncSession } from "../ort_sync.ts";
import { type TrainingHead, VALUE_HEAD } from "./heads.ts";
import type { WeightFeeds } from "./weight_feeds.ts";

/** An int64 tensor of `values`. */
export const int64 = (values: ArrayLike<number>, dims: number[]): ort.Tensor =>
  new ort.Tensor("int64", BigInt64Array.from(Array.from(values), BigInt), dims);

/** The feeds a session declares (ONNX Runtime rejects unknown input names). */
export function pick(
  names: readonly string[],
  feeds: Record<string, ort.Tensor>,
): Record<string, ort.Tensor> {
  const picked: Record<string, ort.Tensor> = {};
  for (const name of names) {
    if (!feeds[name]) throw new Error(`No feed for graph input "${name}"`);
    picked[name] = feeds[name];
  }
  return picked;
}

/** A critic's value head: weight [1, C] and bias [1]. */
export interface ValueHeadVariables {
  /** [1, C]. */
  weight: tf.Variable;
  /** [1]. */
  bias: tf.Variable;
}

/** What a training forward returns (M rows of width C). */
export interface TrainingForward {
  /** [M * C] final hidden states of the M predicting positions. */
  hidden: Float32Array;
  /** [M] log-probs of the targets (with the LM head). */
  logProbs?: Float32Array;
  /** [M] entropies of the next-token distributions (with the LM head). */
  entropy?: Float32Array;
  /** [M] values (with a value head). */
  values?: Float32Array;
  /** The weight gradients (by weight name) given the outputs' gradients; runs once. */
  backward(grads: {
    hidden: Float32Array;
    logProbs?: Float32Array;
    entropy?: Float32Array;
    values?: Float32Array;
  }): Map<string, Float32Array>;
}

/** The forward and backward sessions of one training graph pair. */
export class TrainingPair {
  private constructor(
    private forward: SyncSession,
    private backward: SyncSession,
    private saved: readonly string[],
  ) {}

  /** Opens both sessions (neither stays open when the other fails). */
  static open(
    models: TrainingModels,
    options: ort.InferenceSession.SessionOptions,
  ): TrainingPair {
    const forward = SyncSession.open(models.forward, options);
    try {
      return new TrainingPair(forward, SyncSession.open(models.backward, options), models.saved);
    } catch (error) {
      forward.dispose();
      throw error;
    }
  }

  /** Frees both sessions. */
  dispose(): void {
    this.forward.dispose();
    this.backward.dispose();
  }

  /**
   * Runs the forward on `feeds` (inputs and weights); its `backward` gives the
   * gradient of every variable in `variables` (zeros where the outputs do not
   * read one). `rows` × `width` is the hidden states' shape; with head "value"
   * the value head's variables are fed from `weights` under trl's names.
   */
  run(
    feeds: Record<string, ort.Tensor>,
    variables: ReadonlyMap<string, tf.Variable>,
    shape: { rows: number; width: number },
    head: TrainingHead,
    valueHead?: { variables: ValueHeadVariables; weights: WeightFeeds },
  ): TrainingForward {
    const all = new Map(variables);
    if (head === "value") {
      if (!valueHead) throw new RangeError('A training forward with head "value" needs the head');
      const { weight, bias } = valueHead.variables;
      const own = new Map([[VALUE_HEAD.weight, weight], [VALUE_HEAD.bias, bias]]);
      // keyed by the weight variable: callers pass a fresh {weight, bias} object per step
      Object.assign(feeds, valueHead.weights.of(weight, own));
      own.forEach((v, name) => all.set(name, v));
    }
    const out = this.forward.run(pick(this.forward.inputNames, feeds));
    // the activations the backward reads; released once it ran (no closure keeps `out`)
    let kept: Record<string, ort.Tensor> | null = {};
    for (const name of this.saved) {
      const { type, data, dims } = out[name];
      kept[name] = new ort.Tensor(type, data as Float32Array, dims);
    }
    const result = {
      hidden: out.hidden.data as Float32Array,
      logProbs: out.target_logprobs?.data as Float32Array | undefined,
      entropy: out.entropy?.data as Float32Array | undefined,
      values: out.values?.data as Float32Array | undefined,
    };
    const backward = this.backward;
    const { rows: m, width } = shape;
    return {
      ...result,
      backward(grads) {
        if (!kept) throw new Error("This training forward's backward already ran");
        const float = (data: Float32Array, dims: number[]) => new ort.Tensor("float32", data, dims);
        const gradFeeds: Record<string, ort.Tensor> = {
          ...feeds,
          ...kept,
          grad_hidden: float(grads.hidden, [m, width]),
        };
        if (head === "lm") {
          gradFeeds.grad_logprobs = float(grads.logProbs!, [m]);
          gradFeeds.grad_entropy = float(grads.entropy!, [m]);
        } else if (head === "value") gradFeeds.grad_values = float(grads.values!, [m]);
        kept = null;
        const g = backward.run(pick(backward.inputNames, gradFeeds));
        const result = new Map<string, Float32Array>();
        for (const [name, variable] of all) {
          const grad = g[`grad.${name}`];
          result.set(name, grad ? grad.data as Float32Array : new Float32Array(variable.size));
        }
        return result;
      },
    };
  }
}

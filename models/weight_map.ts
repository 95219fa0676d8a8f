/**
 * A model's weights as tfjs variables by checkpoint name: the copying,
 * freeing and host export every architecture needs.
 * @module
 */
/** @ignore tfjs documents its own types; we reference them, not re-export them. */
import * as tf from "@tensorflow/tfjs-core";
import { InputError } from "../core/errors.ts";
import { type LoraAdapters, mergeLoraWeights } from "./lora.ts";
import type { HostTensor } from "./safetensors.ts";
import type { Tokenizer } from "./types.ts";

/** Trainable copies of `weights`, under the same names. */
export function cloneWeights(weights: ReadonlyMap<string, tf.Variable>): Map<string, tf.Variable> {
  const copy = new Map<string, tf.Variable>();
  for (const [name, w] of weights) {
    const value = w.clone();
    copy.set(name, tf.variable(value, true));
    value.dispose();
  }
  return copy;
}

/** Frees every weight. */
export function disposeWeights(weights: ReadonlyMap<string, tf.Variable>): void {
  for (const w of weights.values()) w.dispose();
}

/** The weights copied to the host, by name. */
export async function weightsToHost(
  weights: ReadonlyMap<string, tf.Variable>,
): Promise<Map<string, HostTensor>> {
  const out = new Map<string, HostTensor>();
  for (const [name, w] of weights) {
    out.set(name, { shape: [...w.shape], data: await w.data<"float32">() });
  }
  return out;
}

/**
 * Variables for exactly the tensors `shapes` names, from host tensors read
 * out of `file`: a missing, unexpected or misshapen tensor is a one-line error
 * naming it (`shapeNote` adds to the shape message, e.g. which config fields
 * the shape came from).
 */
export function weightsFromHost(
  byName: ReadonlyMap<string, HostTensor>,
  shapes: ReadonlyMap<string, number[]>,
  file: string,
  shapeNote: (name: string) => string = () => "",
): Map<string, tf.Variable> {
  for (const [name, shape] of shapes) {
    const t = byName.get(name);
    if (!t) throw new InputError(`Missing tensor "${name}" (expected shape [${shape}])`, file);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new InputError(
        `Tensor "${name}" has shape [${t.shape}], expected [${shape}]${shapeNote(name)}`,
        file,
      );
    }
  }
  for (const name of byName.keys()) {
    if (!shapes.has(name)) throw new InputError(`Unexpected tensor "${name}"`, file);
  }
  const weights = new Map<string, tf.Variable>();
  for (const [name, shape] of shapes) {
    const value = tf.tensor(byName.get(name)!.data, shape, "float32");
    weights.set(name, tf.variable(value, true));
    value.dispose();
  }
  return weights;
}

// How many models read each shared weight map (LoRA views of one frozen base): the last one
// disposed frees it.
const sharedBases = new WeakMap<Map<string, tf.Variable>, { holders: number }>();

/**
 * What every model built on named tf.Variables shares (GPT-2, T5): its config, its weights by
 * checkpoint name, the tokenizer loaded with it, the weight-map operations (copy, free, host
 * copy) and LoRA views ({@linkcode WeightedModel.withLora}: the weights a frozen base shared by
 * every view, only the adapters train). The architecture itself lives in the subclass, which
 * adds `lora.delta` to each adaptable layer.
 */
export abstract class WeightedModel<C> {
  /** The hyperparameters (checked, defaults filled). */
  readonly config: C;
  /** The tokenizer loaded with the checkpoint, if any. */
  tokenizer?: Tokenizer;
  /** Weights by checkpoint name; the model owns them (a LoRA view shares them). */
  readonly weights: Map<string, tf.Variable>;
  /** LoRA adapters over the frozen weights, or null for a fully trained model. */
  lora: LoraAdapters | null = null;

  /**
   * Wraps existing weights.
   *
   * @param config a checked config
   * @param weights every tensor the architecture names; the model takes ownership
   */
  constructor(config: C, weights: Map<string, tf.Variable>) {
    this.config = config;
    this.weights = weights;
  }

  /** The weight named `name`; a missing one is a programming error. */
  protected weight<R extends tf.Rank>(name: string): tf.Tensor<R> {
    const w = this.weights.get(name);
    if (!w) throw new Error(`Missing weight "${name}"`);
    return w as unknown as tf.Tensor<R>;
  }

  /** A model of the same class over `weights` (not copied), with the same tokenizer. */
  #sameClass(weights: Map<string, tf.Variable>): this {
    const Model = this.constructor as new (config: C, weights: Map<string, tf.Variable>) => this;
    const model = new Model(this.config, weights);
    model.tokenizer = this.tokenizer;
    return model;
  }

  /**
   * A view with LoRA adapters over this model's weights (not copied: the base is frozen and
   * shared; it is freed when the last model reading it is disposed). Only the adapters train;
   * `clone()` copies the adapters alone.
   * @param adapters the adapters (owned by the view from now on)
   * @returns the adapted model
   */
  withLora(adapters: LoraAdapters): this {
    const holder = sharedBases.get(this.weights) ?? { holders: 1 };
    holder.holders++;
    sharedBases.set(this.weights, holder);
    const view = this.#sameClass(this.weights);
    view.lora = adapters;
    return view;
  }

  /** The adapters when adapted (the base stays frozen), else every weight. */
  trainableVariables(): tf.Variable[] {
    return this.lora ? this.lora.variables() : [...this.weights.values()];
  }

  /** A deep copy of the same class; an adapted model copies its adapters and shares the base. */
  clone(): this {
    return this.lora
      ? this.withLora(this.lora.clone())
      : this.#sameClass(cloneWeights(this.weights));
  }

  /** Frees the weights (a shared base once its last reader goes) and the adapters. */
  dispose(): void {
    this.lora?.dispose();
    this.lora = null;
    const holder = sharedBases.get(this.weights);
    if (!holder) return disposeWeights(this.weights);
    if (--holder.holders === 0) disposeWeights(this.weights);
  }

  /** The weights copied to the host, by checkpoint name (a view's base, without adapters). */
  toHost(): Promise<Map<string, HostTensor>> {
    return weightsToHost(this.weights);
  }

  /** The weights of the model it computes, on the host: a LoRA view's adapters merged in. */
  async mergedToHost(): Promise<Map<string, HostTensor>> {
    const host = await this.toHost();
    return this.lora ? await mergeLoraWeights(host, this.lora) : host;
  }
}

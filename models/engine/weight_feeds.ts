/**
 * The host copies of a model's tfjs weights that the engine feeds to its
 * graphs: a variable is copied again only when its tfjs data changed (a
 * `Variable.assign` gives it a new dataId), so a frozen reference or guide is
 * copied once and the learner once per update.
 * @module
 */
/** @ignore onnxruntime documents its own types; we reference them, not re-export them. */
import * as ort from "onnxruntime-node";
/** @ignore tfjs documents its own types; we reference them, not re-export them. */
import type * as tf from "@tensorflow/tfjs-core";

interface Cached {
  /** What the copy was made from: the variable's dataId, or the source tensor of a derived one. */
  from: unknown;
  tensor: ort.Tensor;
}

/** Host copies of weights, per model, kept while the model lives. */
export class WeightFeeds {
  #cache = new WeakMap<object, Map<string, Cached>>();

  #entries(owner: object): Map<string, Cached> {
    let cache = this.#cache.get(owner);
    if (!cache) this.#cache.set(owner, cache = new Map());
    return cache;
  }

  /** ONNX tensors of `weights` (by name), refreshed where their tfjs data changed. */
  of(owner: object, weights: ReadonlyMap<string, tf.Variable>): Record<string, ort.Tensor> {
    const cache = this.#entries(owner);
    const feeds: Record<string, ort.Tensor> = {};
    for (const [name, variable] of weights) {
      const dataId = (variable as unknown as { dataId: unknown }).dataId;
      let entry = cache.get(name);
      if (!entry || entry.from !== dataId) {
        const data = variable.dataSync() as Float32Array;
        entry = { from: dataId, tensor: new ort.Tensor("float32", data, variable.shape) };
        cache.set(name, entry);
      }
      feeds[name] = entry.tensor;
    }
    return feeds;
  }

  /** A tensor made from `source` (one of `of`'s), cached under `name` until `source` changes. */
  derived(
    owner: object,
    name: string,
    source: ort.Tensor,
    make: (source: ort.Tensor) => ort.Tensor,
  ): ort.Tensor {
    const cache = this.#entries(owner);
    let entry = cache.get(name);
    if (!entry || entry.from !== source) {
      cache.set(name, entry = { from: source, tensor: make(source) });
    }
    return entry.tensor;
  }
}

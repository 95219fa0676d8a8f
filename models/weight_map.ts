/**
 * A model's weights as tfjs variables by checkpoint name: the copying,
 * freeing and host export every architecture needs.
 * @module
 */
/** @ignore tfjs documents its own types; we reference them, not re-export them. */
import * as tf from "@tensorflow/tfjs-core";
import type { HostTensor } from "./safetensors.ts";

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

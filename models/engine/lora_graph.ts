/**
 * LoRA adapters in the engine's graphs, one mechanism for GPT-2 and T5: each adapted module's
 * A [r, in] and B [out, r] are graph inputs beside the weights (`lora_A.<path>`,
 * `lora_B.<path>`), a linear layer adds s·(x·Aᵀ)·Bᵀ, and a training graph differentiates the
 * adapters alone. Host side: a model's adapter feeds (zeros for a model without adapters on an
 * engine built for them) and the variables its gradient step trains.
 * @module
 */
/** @ignore onnxruntime documents its own types; we reference them, not re-export them. */
import * as ort from "onnxruntime-node";
/** @ignore tfjs documents its own types; we reference them, not re-export them. */
import type * as tf from "@tensorflow/tfjs-core";
import type { Graph, Value } from "../graph/builder.ts";
import type { LoraAdapters } from "../lora.ts";
import type { WeightFeeds } from "./weight_feeds.ts";

/** LoRA adapters a graph takes: the adapted module paths, the rank, the scale, the layout. */
export interface LoraGraphSpec {
  /** Module paths, e.g. `h.0.attn.c_attn` or `encoder.block.0.layer.0.SelfAttention.q`. */
  paths: readonly string[];
  /** The rank. */
  r: number;
  /** The scale s of s·(x·Aᵀ)·Bᵀ. */
  scale: number;
  /** W is stored [in, out] (GPT-2's Conv1D), else [out, in] (nn.Linear). @default true */
  fanInFanOut?: boolean;
}

/** The graph input holding a module's LoRA A [r, in] or B [out, r]. */
export const loraInputName = (path: string, which: "A" | "B"): string => `lora_${which}.${path}`;

/** Whether a weight input name is an adapter's. */
export const isAdapterInput = (name: string): boolean => name.startsWith("lora_");

/** The graph spec of a model's adapters. */
export function loraGraphSpec(adapters: LoraAdapters): LoraGraphSpec {
  return {
    paths: [...adapters.pairs.keys()],
    r: adapters.config.r,
    scale: adapters.scale,
    fanInFanOut: adapters.layout.fanInFanOut,
  };
}

/** Whether two specs make the same graphs. */
export const sameLoraSpec = (a: LoraGraphSpec, b: LoraGraphSpec): boolean =>
  a.r === b.r && a.scale === b.scale && (a.fanInFanOut ?? true) === (b.fanInFanOut ?? true) &&
  a.paths.length === b.paths.length && a.paths.every((p) => b.paths.includes(p));

/** The A and B input shapes of a module whose weight has `weightShape`. */
function adapterShapes(
  path: string,
  weightShape: readonly number[],
  spec: LoraGraphSpec,
): [string, number[]][] {
  const [inFeatures, outFeatures] = (spec.fanInFanOut ?? true)
    ? weightShape
    : [weightShape[1], weightShape[0]];
  return [
    [loraInputName(path, "A"), [spec.r, inFeatures]],
    [loraInputName(path, "B"), [outFeatures, spec.r]],
  ];
}

/** A graph's weight inputs by checkpoint name, its adapters' inputs, and their scale. */
export class GraphWeights extends Map<string, Value> {
  /**
   * @param weights inputs by name (weights, then adapters)
   * @param loraScale the adapters' scale s
   */
  constructor(weights: Map<string, Value>, readonly loraScale = 0) {
    super(weights);
  }
}

/**
 * Graph inputs for every weight of `shapes`, and for the adapters of `lora`.
 * @param g the graph
 * @param shapes the architecture's weight shapes by checkpoint name
 * @param lora the adapters the graph takes, if any
 * @returns the inputs by name
 */
export function graphWeights(
  g: Graph,
  shapes: ReadonlyMap<string, readonly number[]>,
  lora?: LoraGraphSpec,
): GraphWeights {
  const w = g.weightInputs(shapes);
  for (const path of lora?.paths ?? []) {
    for (const [name, shape] of adapterShapes(path, shapes.get(`${path}.weight`)!, lora!)) {
      w.set(name, g.input(name, "float32", shape));
    }
  }
  return new GraphWeights(w, lora?.scale ?? 0);
}

/**
 * `y` plus s·(x·Aᵀ)·Bᵀ where the module has an adapter.
 * @param g the graph
 * @param x the layer's input (N, in)
 * @param y the layer's output (N, out)
 * @param w the weights
 * @param path the module path
 * @returns the adapted output
 */
export function withLoraUpdate(
  g: Graph,
  x: Value,
  y: Value,
  w: GraphWeights,
  path: string,
): Value {
  const a = w.get(loraInputName(path, "A"));
  if (!a) return y;
  const down = g.gemm(x, a, undefined, { transB: true }); // (N, r)
  const b = w.get(loraInputName(path, "B"))!;
  return g.add(y, g.gemm(down, b, undefined, { transB: true, alpha: w.loraScale }));
}

/** An adapted model's A and B variables by graph input name. */
export function adapterVariables(adapters: LoraAdapters): Map<string, tf.Variable> {
  const out = new Map<string, tf.Variable>();
  for (const [path, { a, b }] of adapters.pairs) {
    out.set(loraInputName(path, "A"), a).set(loraInputName(path, "B"), b);
  }
  return out;
}

/**
 * What a gradient step of `model` trains, by graph input name: its adapters, or its weights.
 * @param model the model
 * @param engineLora with an engine's adapters given (or null), the model must match them: an
 *   engine with adapters differentiates them alone, so it trains adapted models only
 * @returns the variables by graph input name
 */
export function trainedVariables(
  model: { weights: ReadonlyMap<string, tf.Variable>; lora?: LoraAdapters | null },
  engineLora?: LoraGraphSpec | null,
): ReadonlyMap<string, tf.Variable> {
  if (engineLora !== undefined && !engineLora !== !model.lora) {
    throw new RangeError(
      engineLora
        ? "This engine trains LoRA adapters; the model has none"
        : "This engine has no LoRA inputs; the model is adapted",
    );
  }
  return model.lora ? adapterVariables(model.lora) : model.weights;
}

// zero adapters per engine spec, made once
const zeroCache = new WeakMap<LoraGraphSpec, Record<string, ort.Tensor>>();

/**
 * The feeds of a model on an engine built for `spec` (or for no adapters): its weights, keyed by
 * the weight map so that LoRA views of one base share one host copy, and its adapters (zeros for
 * a model without adapters).
 * @param feeds the engine's host copies
 * @param model the model
 * @param spec the engine's adapters, or null
 * @returns ONNX tensors by graph input name
 */
export function modelFeeds(
  feeds: WeightFeeds,
  model: { weights: ReadonlyMap<string, tf.Variable>; lora?: LoraAdapters | null },
  spec: LoraGraphSpec | null,
): Record<string, ort.Tensor> {
  const weights = feeds.of(model.weights, model.weights);
  if (!spec) return weights;
  if (model.lora) return { ...weights, ...feeds.of(model.lora, adapterVariables(model.lora)) };
  let zeros = zeroCache.get(spec);
  if (!zeros) {
    zeros = zeroAdapterFeeds(spec, (path) => model.weights.get(`${path}.weight`)!.shape);
    zeroCache.set(spec, zeros);
  }
  return { ...weights, ...zeros };
}

/**
 * Zero adapters for `spec` (what a model without adapters feeds an engine built for them).
 * @param spec the engine's adapters
 * @param weightShape the stored shape of a module's weight
 * @returns ONNX tensors by graph input name
 */
export function zeroAdapterFeeds(
  spec: LoraGraphSpec,
  weightShape: (path: string) => readonly number[],
): Record<string, ort.Tensor> {
  return Object.fromEntries(
    spec.paths.flatMap((path) => adapterShapes(path, weightShape(path), spec)).map((
      [name, shape],
    ) => [name, new ort.Tensor("float32", new Float32Array(shape[0] * shape[1]), shape)]),
  );
}

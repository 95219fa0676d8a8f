/**
 * Layers the T5 and Llama graphs share: nn.Linear (W stored [out, in], an optional bias, a LoRA
 * update where the module has an adapter) and RMSNorm.
 * @module
 */
import type { Graph, Value } from "../graph/builder.ts";
import { type GraphWeights, withLoraUpdate } from "./lora_graph.ts";

/** y = x·Wᵀ (+ b) for an nn.Linear weight W [out, in], plus s·(x·Aᵀ)·Bᵀ with an adapter. */
export function linear(g: Graph, x: Value, w: GraphWeights, name: string): Value {
  const y = g.gemm(x, w.get(`${name}.weight`)!, w.get(`${name}.bias`), { transB: true });
  return withLoraUpdate(g, x, y, w, name);
}

/** RMSNorm (T5LayerNorm): weight · x / √(mean(x²) + eps), no mean, no bias. */
export function rmsNorm(g: Graph, x: Value, weight: Value, eps: number): Value {
  const meanSquare = g.reduceMean(g.mul(x, x), [-1], true); // (N, 1)
  const inverse = g.reciprocal(g.sqrt(g.add(meanSquare, eps)));
  return g.mul(g.mul(x, inverse), weight);
}

/**
 * The heads the graphs end in: log π(target) and the entropy of each row's
 * next-token distribution (one composite op with a fused backward), and a
 * critic's linear value head.
 * @module
 */
import type { Graph, Value } from "../graph/builder.ts";

/**
 * log π(target) and the entropy of each row's next-token distribution from
 * logits (M, V), with a fused backward: d/dlogits of log p[target] is
 * onehot − p, of the entropy H it is −p (log p + H).
 */
export function tokenLogProbs(g: Graph, logits: Value, targets: Value): [Value, Value] {
  let logp!: Value;
  const [picked, entropy] = g.composite(
    [logits, targets],
    () => {
      logp = g.logSoftmax(logits, -1);
      const gathered = g.gatherElements(logp, g.unsqueeze(targets, [1]), 1); // (M, 1)
      const plogp = g.mul(g.exp(logp), logp);
      return [g.squeeze(gathered, [1]), g.neg(g.reduceSum(plogp, [1]))];
    },
    (g, { outputs: [, h], dOutputs: [dLogp, dEntropy] }) => {
      // -p (dlogp + dH (log p + H)), then dlogp added at the targets: few passes over (M, V)
      const column = (d: Value | null) => (d ? g.unsqueeze(d, [1]) : null); // (M, 1)
      const [dl, de] = [column(dLogp), column(dEntropy)];
      const spread = de ? g.mul(de, g.add(logp, g.unsqueeze(h, [1]))) : null; // (M, V)
      const weight = dl && spread ? g.sub(g.neg(dl), spread) : spread ? g.neg(spread) : g.neg(dl!);
      const dLogits = g.mul(g.exp(logp), weight);
      if (!dl) return [dLogits, null];
      return [g.scatterElements(dLogits, g.unsqueeze(targets, [1]), dl, 1, "add"), null];
    },
  );
  return [picked, entropy];
}

/** What a training graph computes past the trunk: the LM head, a critic's value head, or neither. */
export type TrainingHead = "lm" | "value" | "none";

/** The value head's weights (trl's names), graph inputs of the "value" training graphs. */
export const VALUE_HEAD = { weight: "v_head.summary.weight", bias: "v_head.summary.bias" } as const;

/** The value head on states (M, C): its weight [1, C] and bias [1] inputs and the values (M). */
export function valueHead(g: Graph, states: Value, width: number) {
  const weight = g.input(VALUE_HEAD.weight, "float32", [1, width]);
  const bias = g.input(VALUE_HEAD.bias, "float32", [1]);
  const values = g.squeeze(g.gemm(states, weight, bias, { transB: true }), [1]); // (M)
  return { weight, bias, values };
}

/** The inputs a step graph's sampling heads take, by name. */
export const SAMPLING_INPUTS = {
  inverseTemperature: "inv_temperature",
  uniforms: "uniforms",
  banned: "banned",
  topK: "top_k",
} as const;

/**
 * Each row's k largest logits, most likely first (ties: the lower id first), as the top-k
 * sampling session finds them, so that only [B, k] leaves the step graph.
 * Input: top_k [1] (int64). Outputs top_values [B, k], top_indices [B, k] (int64).
 * @param g the graph
 * @param logits the next-token logits (B, V)
 * @returns the input (to list in the model) and the two outputs
 */
export function topKHead(g: Graph, logits: Value): { inputs: Value[]; outputs: Value[] } {
  const k = g.input(SAMPLING_INPUTS.topK, "int64", [1]);
  const [values, indices] = g.node("TopK", [logits, k], [
    { dtype: "float32", shape: ["B", "K"] },
    { dtype: "int64", shape: ["B", "K"] },
  ], { axis: -1, largest: 1, sorted: 1 });
  return {
    inputs: [k],
    outputs: [g.name(values, "top_values"), g.name(indices, "top_indices")],
  };
}

/** Tokens per block of the sampling head's two-level running sum. */
const SAMPLING_BLOCK = 256;

/**
 * A token per row drawn from softmax(logits / T) inside the graph, as `sampleProbabilities`
 * draws it on the host (the first token whose running sum of probabilities passes u · total,
 * u one uniform in [0, 1) per row, the banned token's probability 0), so that only the ids
 * leave the graph. The running sum is taken in two levels, over blocks of 256 tokens and then
 * within the block that u falls in, because ONNX Runtime's CumSum over a [32, 50257] row
 * block takes ~9 ms where the blocks take well under 1; the sums are float32 within a block
 * and float64 above it, so a draw can differ from the host's only within float rounding of a
 * boundary.
 * Inputs: inv_temperature [1], uniforms [B] (float64), banned [B] (int64; -1 bans none).
 * @param g the graph
 * @param logits the next-token logits (B, V)
 * @param vocabSize V
 * @returns the inputs (to list in the model) and next_token (B) int64
 */
export function sampledTokenHead(
  g: Graph,
  logits: Value,
  vocabSize: number,
): { inputs: Value[]; token: Value } {
  const inverse = g.input(SAMPLING_INPUTS.inverseTemperature, "float32", [1]);
  const uniforms = g.input(SAMPLING_INPUTS.uniforms, "float64", ["B"]);
  const banned = g.input(SAMPLING_INPUTS.banned, "int64", ["B"]);
  const block = SAMPLING_BLOCK;
  const blocks = Math.ceil(vocabSize / block);
  const cumSum = (x: Value, width: number) =>
    g.node("CumSum", [x, g.constant([1], [], "int64")], [
      { dtype: "float64", shape: ["B", width] },
    ])[0];
  // the banned token's logit to -inf; a row without a ban writes its token 0's own logit back
  const scaled = g.mul(logits, inverse);
  const at = g.unsqueeze(g.max(banned, 0), [1]); // (B, 1)
  const own = g.gatherElements(scaled, at, 1);
  const noBan = g.unsqueeze(g.less(banned, 0), [1]);
  const masked = g.scatterElements(scaled, at, g.where(noBan, own, -Infinity), 1, "none");
  const probabilities = g.pad(g.softmax(masked, -1), [0, 0, 0, blocks * block - vocabSize]);
  const perBlock = g.reshape(probabilities, [-1, blocks, block], ["B", blocks, block]);
  const sums = g.cast(g.reduceSum(perBlock, [2]), "float64"); // (B, blocks)
  const running = cumSum(sums, blocks);
  const total = g.slice(running, [blocks - 1], [blocks], [1]); // (B, 1)
  const threshold = g.mul(g.unsqueeze(uniforms, [1]), total); // (B, 1)
  // the block the draw falls in: the first whose running sum passes the threshold
  const passed = (sums: Value) => g.reduceSum(g.cast(g.greater(sums, threshold), "int64"), [1]);
  const j = g.min(g.sub(blocks, passed(running)), blocks - 1); // (B)
  const zero = g.mul(g.slice(running, [0], [1], [1]), 0); // (B, 1)
  const before = g.concat([zero, g.slice(running, [0], [blocks - 1], [1])], 1); // exclusive
  const offset = g.gatherElements(before, g.unsqueeze(j, [1]), 1); // (B, 1)
  const rowShape = g.concat([g.shape(uniforms), g.ints([1, block])], 0);
  const index = g.expand(g.unsqueeze(j, [1, 2]), rowShape, ["B", 1, block]);
  const inBlock = g.reshape(g.gatherElements(perBlock, index, 1), [-1, block], ["B", block]);
  const within = g.add(cumSum(g.cast(inBlock, "float64"), block), offset); // (B, block)
  const w = g.min(g.sub(block, passed(within)), block - 1);
  const token = g.min(g.add(g.mul(j, block), w), vocabSize - 1);
  return { inputs: [inverse, uniforms, banned], token: g.name(token, "next_token") };
}

/**
 * What a step graph ends in: last_logits [B, V]; with "token" the sampled next_token
 * ({@linkcode sampledTokenHead}); with "top-k" top_values and top_indices ({@linkcode topKHead}).
 * @param g the graph
 * @param logits the last position's logits (B, V)
 * @param vocabSize V
 * @param sample the sampling variant, if any
 * @returns the extra inputs and the outputs
 */
export function stepHead(
  g: Graph,
  logits: Value,
  vocabSize: number,
  sample?: "token" | "top-k",
): { inputs: Value[]; outputs: Value[] } {
  if (sample === "token") {
    const head = sampledTokenHead(g, logits, vocabSize);
    return { inputs: head.inputs, outputs: [head.token] };
  }
  if (sample === "top-k") return topKHead(g, logits);
  return { inputs: [], outputs: [g.name(logits, "last_logits")] };
}

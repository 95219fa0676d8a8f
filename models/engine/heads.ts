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

/** The inputs a step graph's sampling head takes, by name. */
export const SAMPLING_INPUTS = {
  inverseTemperature: "inv_temperature",
  uniforms: "uniforms",
  banned: "banned",
} as const;

/**
 * A token per row drawn from softmax(logits / T) inside the graph, as `sampleProbabilities`
 * draws it on the host: the probabilities in float64 with the banned token's set to 0, their
 * running sum, and the first token whose running sum exceeds u · total (u one uniform draw in
 * [0, 1) per row). Only the ids leave the graph, not [B, V] logits.
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
  const probabilities = g.cast(g.softmax(g.mul(logits, inverse), -1), "float64"); // (B, V)
  const ids = g.constant(Array.from({ length: vocabSize }, (_, i) => i), [vocabSize], "int64");
  const kept = g.where(g.equal(g.unsqueeze(banned, [1]), ids), 0, probabilities);
  const [running] = g.node("CumSum", [kept, g.constant([1], [], "int64")], [
    { dtype: "float64", shape: ["B", vocabSize] },
  ]);
  const total = g.slice(running, [vocabSize - 1], [vocabSize], [1]); // (B, 1)
  const threshold = g.mul(g.unsqueeze(uniforms, [1]), total); // (B, 1)
  const beyond = g.reduceSum(g.cast(g.greater(running, threshold), "int64"), [1]); // (B)
  // the first token past u·total is V − (how many are past it); when none is (u·total rounded
  // up to the total), the last token that is not banned, as the host's loop ends
  const last = g.where(
    g.equal(banned, vocabSize - 1),
    vocabSize - 2,
    g.scalar(vocabSize - 1, "int64"),
  );
  const token = g.where(g.equal(beyond, 0), last, g.sub(vocabSize, beyond));
  return { inputs: [inverse, uniforms, banned], token: g.name(token, "next_token") };
}

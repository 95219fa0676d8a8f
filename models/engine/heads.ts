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

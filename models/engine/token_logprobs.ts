/**
 * The head every policy graph ends in: log π(target) and the entropy of each
 * row's next-token distribution, as one composite op with a fused backward.
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

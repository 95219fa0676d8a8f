/**
 * Per-token rewards: the KL penalty against the reference plus the terminal task reward.
 * @module
 */
/** @ignore rxjs documents its own types; we reference them, not re-export them. */
import { map, type OperatorFunction } from "rxjs";
import type { KlFields, LogProbFields, RewardFields } from "./types.ts";

/** Options of {@linkcode klReward}. */
export interface KlRewardOptions {
  /** The current KL coefficient c (read once per batch; the driver steps the controller). */
  coef: () => number;
  /** Apply the KL reward (spec: on in every algorithm; off reproduces tril's guided algorithms). @default true */
  enabled: boolean;
  /**
   * Per-token KL estimate, with d = log π_θ - log π_ref: "k1" = d (the spec's, tril's and TRL's)
   * or "k3" = e^(-d) - 1 + d (Schulman's, never negative: with top-k sampling and full-softmax
   * log-probs, k1's sum over sampled tokens can go negative, k3's cannot). @default "k1"
   */
  estimator?: "k1" | "k3";
}

/** The per-token KL estimate for d = log π_θ(a) - log π_ref(a). */
function klEstimate(d: number, estimator: "k1" | "k3"): number {
  return estimator === "k3" ? Math.exp(-d) - 1 + d : d;
}

/**
 * r_t = -c (log π_θ(a_t|s_t) - log π_ref(a_t|s_t)) (or -c k3, see `estimator`), with R(x, y) added
 * at the last token. The summed KL estimate is recorded even when the penalty is off, for the
 * metrics and the controller.
 * Informally: batch with log-probs and task rewards → the same batch with `rewards`.
 *
 * @param options the coefficient and the on/off switch
 * @returns the operator
 */
export function klReward<T extends LogProbFields & RewardFields>(
  options: KlRewardOptions,
): OperatorFunction<T, T & KlFields> {
  return map((batch) => {
    const c = options.enabled ? options.coef() : 0;
    if (!Number.isFinite(c)) throw new RangeError(`KL coefficient must be finite, got ${c}`);
    const estimator = options.estimator ?? "k1";
    const perToken = batch.logProbs.map((row, i) =>
      row.map((lp, t) => klEstimate(lp - batch.refLogProbs[i][t], estimator))
    );
    const klRewards = perToken.map((row) => row.map((k) => c === 0 ? 0 : -c * k));
    const rewards = klRewards.map((row, i) => {
      if (row.length === 0) throw new RangeError(`Row ${i} has no generated tokens to reward`);
      const out = row.slice();
      out[out.length - 1] += batch.taskRewards[i];
      return out;
    });
    const kl = perToken.map((row) => row.reduce((sum, k) => sum + k, 0));
    return { ...batch, klCoef: c, klRewards, rewards, kl };
  });
}

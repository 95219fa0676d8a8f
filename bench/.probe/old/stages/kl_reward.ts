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
}

/**
 * r_t = -c (log π_θ(a_t|s_t) - log π_ref(a_t|s_t)), with R(x, y) added at the last token.
 * The summed KL is recorded even when the penalty is off, for the metrics and the controller.
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
    const klRewards = batch.logProbs.map((row, i) =>
      row.map((lp, t) => c === 0 ? 0 : -c * (lp - batch.refLogProbs[i][t]))
    );
    const rewards = klRewards.map((row, i) => {
      if (row.length === 0) throw new RangeError(`Row ${i} has no generated tokens to reward`);
      const out = row.slice();
      out[out.length - 1] += batch.taskRewards[i];
      return out;
    });
    const kl = batch.logProbs.map((row, i) =>
      row.reduce((sum, lp, t) => sum + lp - batch.refLogProbs[i][t], 0)
    );
    return { ...batch, klCoef: c, klRewards, rewards, kl };
  });
}

/**
 * Generalised advantage estimation over each trajectory's generated window.
 * @module
 */
/** @ignore rxjs documents its own types; we reference them, not re-export them. */
import { map, type OperatorFunction } from "rxjs";
import type { AdvantageFields, KlFields, ValueFields } from "./types.ts";

/**
 * GAE(γ, λ) of one trajectory, bootstrapping 0 after the last token (the episode ends).
 * δ_t = r_t + γ V_{t+1} - V_t;  A_t = δ_t + γ λ A_{t+1}.
 *
 * @param rewards r_t per token
 * @param values V(s_t) per token, same length
 * @param gamma γ
 * @param lambda λ
 * @returns the advantages and returns (advantages + values)
 */
export function gae(
  rewards: readonly number[],
  values: readonly number[],
  gamma: number,
  lambda: number,
): { advantages: number[]; returns: number[] } {
  if (rewards.length !== values.length) {
    throw new RangeError(
      `Rewards and values must have the same length, got ${rewards.length} and ${values.length}`,
    );
  }
  const n = rewards.length;
  const advantages = new Array<number>(n);
  let next = 0;
  for (let t = n - 1; t >= 0; t--) {
    const nextValue = t + 1 < n ? values[t + 1] : 0;
    const delta = rewards[t] + gamma * nextValue - values[t];
    next = delta + gamma * lambda * next;
    advantages[t] = next;
  }
  return { advantages, returns: advantages.map((a, t) => a + values[t]) };
}

/** Options of {@linkcode advantages}. */
export interface AdvantagesOptions {
  /** Discount γ. @default 0.99 */
  gamma: number;
  /** GAE λ. @default 0.95 */
  lambda: number;
}

/**
 * Adds GAE advantages and returns to each row; the loss masks are applied later, in the loss.
 * Informally: batch with rewards and values → the same batch with `advantages` and `returns`.
 *
 * @param options γ and λ
 * @returns the operator
 */
export function advantages<T extends KlFields & ValueFields>(
  options: AdvantagesOptions,
): OperatorFunction<T, T & AdvantageFields> {
  for (const [name, value] of Object.entries(options)) {
    if (!(value >= 0 && value <= 1)) {
      throw new RangeError(`${name} must be in [0, 1], got ${value}`);
    }
  }
  return map((batch) => {
    const rows = batch.rewards.map((r, i) =>
      gae(r, batch.values[i], options.gamma, options.lambda)
    );
    return {
      ...batch,
      advantages: rows.map((row) => row.advantages),
      returns: rows.map((row) => row.returns),
    };
  });
}

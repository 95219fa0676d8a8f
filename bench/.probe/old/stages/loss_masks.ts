/**
 * Which tokens receive policy gradient and which value loss, from the switch points.
 * @module
 */
/** @ignore rxjs documents its own types; we reference them, not re-export them. */
import { map, type OperatorFunction } from "rxjs";
import type { MaskFields, RollOutFields, SwitchFields } from "./types.ts";

/**
 * A mask rule: "all" tokens, the roll-out "suffix" t >= k, the roll-in "prefix"
 * t < k, "none", or a function of (t, k, row).
 */
export type MaskRule =
  | "all"
  | "suffix"
  | "prefix"
  | "none"
  | ((t: number, switchPoint: number, row: number) => boolean);

/**
 * Evaluates a mask rule for one row.
 *
 * @param rule the rule
 * @param length the row's number of generated tokens
 * @param switchPoint the row's k
 * @param row the row index (for custom rules)
 * @returns 1 for tokens in the loss, 0 elsewhere
 */
export function maskRow(rule: MaskRule, length: number, switchPoint: number, row = 0): number[] {
  const inLoss = (t: number): boolean => {
    switch (rule) {
      case "all":
        return true;
      case "suffix":
        return t >= switchPoint;
      case "prefix":
        return t < switchPoint;
      case "none":
        return false;
      default:
        return rule(t, switchPoint, row);
    }
  };
  return Array.from({ length }, (_, t) => inLoss(t) ? 1 : 0);
}

/** Options of {@linkcode lossMasks}. */
export interface LossMasksOptions {
  /** Tokens in the policy loss. */
  policy: MaskRule;
  /** Tokens in the value loss. */
  value: MaskRule;
}

/**
 * Adds the policy-loss and value-loss masks (spec table: PPO all/all, PPO++ t ≥ k / t ≥ k,
 * AggreVaTeD t < k / t ≥ k).
 * Informally: rolled-out batch → the same batch with `policyMask` and `valueMask`.
 *
 * @param options the two rules
 * @returns the operator
 */
export function lossMasks<T extends SwitchFields & RollOutFields>(
  options: LossMasksOptions,
): OperatorFunction<T, T & MaskFields> {
  return map((batch) => ({
    ...batch,
    policyMask: batch.tokens.map((row, i) =>
      maskRow(options.policy, row.length, batch.switchPoints[i], i)
    ),
    valueMask: batch.tokens.map((row, i) =>
      maskRow(options.value, row.length, batch.switchPoints[i], i)
    ),
  }));
}

/**
 * Groups of samples per prompt, for the critic-free algorithms (GRPO, RLOO, REBEL's
 * pairs) and the guided groups of GRPO++: a group is `size` consecutive rows with one
 * prompt, and its members' rewards are each other's baseline.
 * @module
 */
/** @ignore rxjs documents its own types; we reference them, not re-export them. */
import { map, type OperatorFunction } from "rxjs";
import type {
  AdvantageFields,
  CoinFields,
  GroupFields,
  KlFields,
  PromptBatch,
  RollInFields,
  SwitchFields,
  ValueFields,
} from "./types.ts";

/**
 * Turns a batch of B prompts into B / `size` groups of `size` rows: the batch's first
 * B / `size` prompts, each repeated `size` times in a row. The batch keeps its B rows, so
 * an iteration samples as many trajectories (and tokens) as without groups.
 * Informally: prompt batch → the same-sized batch of grouped prompts, with `groupSize`.
 *
 * @param size samples per prompt, at least 2, dividing every batch's row count
 * @returns the operator
 */
export function groupPrompts(
  size: number,
): OperatorFunction<PromptBatch, PromptBatch & GroupFields> {
  if (!Number.isInteger(size) || size < 2) {
    throw new RangeError(`A group needs an integer size of at least 2, got ${size}`);
  }
  return map((batch) => {
    const rows = batch.promptIds.length;
    if (rows % size !== 0) {
      throw new RangeError(
        `A batch of ${rows} rows does not split into groups of ${size} ` +
          `(make the generation batch a multiple of group.size)`,
      );
    }
    const repeat = <V>(field: V[]) =>
      Array.from({ length: rows }, (_, i) => field[Math.floor(i / size)]);
    return {
      ...batch,
      recordIds: repeat(batch.recordIds),
      prompts: repeat(batch.prompts),
      promptIds: repeat(batch.promptIds),
      references: repeat(batch.references),
      referenceIds: repeat(batch.referenceIds),
      groupSize: size,
    };
  });
}

/**
 * Keeps the roll-in coin of each group's first row (its leader) and clears the others', so
 * only leaders are rolled in; {@linkcode shareGroupRollIns} then hands the leader's prefix to
 * its group. Informally: coins per row → coins per group.
 *
 * @returns the operator
 */
export function groupLeaderCoins<T extends CoinFields & GroupFields>(): OperatorFunction<T, T> {
  return map((batch) => ({
    ...batch,
    rollInWanted: batch.rollInWanted.map((wanted, i) => i % batch.groupSize === 0 && wanted),
  }));
}

/**
 * Gives every row of a group its leader's roll-in and switch point: the group's samples
 * restart from one shared prefix. Informally: switch points per row → per group.
 *
 * @returns the operator
 */
export function shareGroupRollIns<
  T extends RollInFields & SwitchFields & GroupFields,
>(): OperatorFunction<
  T,
  T
> {
  return map((batch) => {
    const leader = (i: number) => i - (i % batch.groupSize);
    return {
      ...batch,
      rollInTokens: batch.rollInTokens.map((_, i) => batch.rollInTokens[leader(i)]),
      switchPoints: batch.switchPoints.map((_, i) => batch.switchPoints[leader(i)]),
    };
  });
}

/** Options of {@linkcode groupAdvantages}. */
export interface GroupAdvantagesOptions {
  /**
   * Each row's baseline: the mean return of its whole group (GRPO) or of the group's other
   * rows (RLOO's leave-one-out).
   */
  baseline: "group-mean" | "leave-one-out";
  /**
   * "std" divides by the group's sample standard deviation (+ 1e-4, as TRL); "none" keeps
   * the raw difference (Dr. GRPO, RLOO).
   */
  scale: "std" | "none";
}

/**
 * One row's advantages from its group: the return R_i (the task reward plus the row's KL
 * rewards) minus the baseline, optionally scaled.
 *
 * @param returns R of each row of one group
 * @param options baseline and scale
 * @returns the advantage of each row
 */
export function groupRelative(
  returns: readonly number[],
  options: GroupAdvantagesOptions,
): number[] {
  const n = returns.length;
  if (n < 2) throw new RangeError(`A group needs at least 2 rows, got ${n}`);
  const sum = returns.reduce((a, b) => a + b, 0);
  const mean = sum / n;
  const advantages = returns.map((r) =>
    options.baseline === "leave-one-out" ? r - (sum - r) / (n - 1) : r - mean
  );
  if (options.scale === "none") return advantages;
  const std = Math.sqrt(returns.reduce((a, r) => a + (r - mean) ** 2, 0) / (n - 1));
  return advantages.map((a) => a / (std + 1e-4));
}

/**
 * Critic-free advantages: every token of a row gets the row's group-relative advantage
 * (the loss masks pick the tokens that learn); there is no critic, so values are 0 and the
 * returns equal the advantages. Informally: grouped batch with rewards → the same batch
 * with `advantages`, `returns`, zero `values` and no critic.
 *
 * @param options baseline and scale
 * @returns the operator
 */
export function groupAdvantages<T extends KlFields & GroupFields>(
  options: GroupAdvantagesOptions,
): OperatorFunction<T, T & ValueFields & AdvantageFields> {
  return map((batch) => {
    const size = batch.groupSize;
    const returns = batch.rewards.map((row) => row.reduce((a, r) => a + r, 0));
    const perRow: number[] = [];
    for (let start = 0; start < returns.length; start += size) {
      perRow.push(...groupRelative(returns.slice(start, start + size), options));
    }
    const advantages = batch.rewards.map((row, i) => row.map(() => perRow[i]));
    return {
      ...batch,
      critic: null,
      values: batch.rewards.map((row) => row.map(() => 0)),
      advantages,
      returns: advantages.map((row) => row.slice()),
    };
  });
}

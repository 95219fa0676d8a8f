/**
 * Prompt difficulty as the paper groups IMDB prompts (Figure 3): by the reward of the prompt
 * alone, in terciles — hard (lowest own sentiment), medium, easy.
 * @module
 */
import type { RewardFunction, ScoringBatch } from "./types.ts";

/** The labels of the terciles, hardest first. */
export const DIFFICULTY_TERCILES = ["hard", "medium", "easy"] as const;

/**
 * Each value's tercile: ⌊3 · (number of values strictly lower) / n⌋, so ties share a tercile;
 * 0 holds the lowest values (the hardest prompts).
 * @param values one per prompt
 * @returns one tercile (0, 1 or 2) per value
 */
export function terciles(values: readonly number[]): number[] {
  const n = values.length;
  const sorted = [...values].sort((a, b) => a - b);
  return values.map((v) => {
    let lower = 0;
    while (lower < n && sorted[lower] < v) lower++;
    return Math.floor((3 * lower) / n);
  });
}

/**
 * The mean of `scores` in each difficulty tercile of the batch's prompts, named
 * `<prefix>/hard`, `<prefix>/medium` and `<prefix>/easy`; the prompts' own rewards (an empty
 * continuation) decide the terciles, so every model evaluated on the same prompts gets the
 * same groups.
 * @param batch the evaluation batch
 * @param scores the reward of each row (prompt + generation)
 * @param reward the task reward, scored on the prompts alone
 * @param prefix the metric names' prefix, e.g. "sentiment"
 */
export async function difficultyMeans(
  batch: ScoringBatch,
  scores: readonly number[],
  reward: RewardFunction,
  prefix: string,
): Promise<Record<string, number>> {
  if (scores.length === 0) return {};
  const own = await reward({ ...batch, generations: batch.prompts.map(() => "") });
  const groups = terciles(own);
  const out: Record<string, number> = {};
  DIFFICULTY_TERCILES.forEach((label, g) => {
    const mine = scores.filter((_, i) => groups[i] === g);
    if (mine.length > 0) out[`${prefix}/${label}`] = mine.reduce((a, b) => a + b, 0) / mine.length;
  });
  return out;
}

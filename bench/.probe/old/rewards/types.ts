/**
 * The contract every reward and metric follows: plain functions over strings.
 * @module
 */

/** What a reward or metric sees of a batch of generations. */
export interface ScoringBatch {
  /** The prompt text of each row. */
  prompts: string[];
  /** The generated continuation text of each row. */
  generations: string[];
  /** Reference texts per row, when the task has them (CommonGen); empty arrays otherwise. */
  references?: string[][];
}

/** A task reward: one finite number per row. */
export type RewardFunction = (batch: ScoringBatch) => Promise<number[]>;

/** A metric over a whole evaluation set: named corpus-level values. */
export type MetricFunction = (batch: ScoringBatch) => Promise<Record<string, number>>;

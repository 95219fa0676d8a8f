/**
 * What a task is: prompts with references, a reward, metrics and generation defaults.
 * @module
 */
import type { MetricFunction, RewardFunction } from "../rewards/types.ts";

/** One prompt of a task's dataset. */
export interface PromptRecord {
  /** A stable id (e.g. the review's file name or the concept set index). */
  id: string;
  /** The prompt text the policy continues. */
  prompt: string;
  /** Reference continuations (IMDB: the review's second half; CommonGen: pooled targets). */
  references: string[];
  /** Extra per-record data a metric may use (IMDB label, concepts, ...). */
  meta?: Record<string, unknown>;
}

/** The splits every task offers. */
export type Split = "train" | "val" | "test";

/** Decoding defaults of a task (the spec's prompt and generation lengths). */
export interface GenerationDefaults {
  /** Prompts are left-truncated to this many tokens (IMDB: 64, CommonGen: 20). */
  maxPromptTokens: number;
  /** Longest continuation, in tokens (IMDB: 48, CommonGen: 20). */
  maxNewTokens: number;
  /** EOS is suppressed before this many new tokens (IMDB: 48, CommonGen: 5). */
  minNewTokens: number;
  /** Top-k sampling cut-off; 0 = off (IMDB: 50, CommonGen: 0). */
  topK: number;
}

/** A task: prompt records per split, reward, metrics and decoding defaults. */
export interface Task {
  /** Short id of the task, e.g. "imdb" or "commongen". */
  readonly name: string;
  /** The prompt records of `split`. */
  records(split: Split): Promise<PromptRecord[]>;
  /** The training reward R(x, y), one number per generation. */
  readonly reward: RewardFunction;
  /** Corpus-level evaluation metrics by name, e.g. IMDB's `sentiment/mean`. */
  readonly metrics: MetricFunction;
  /** Decoding defaults for this task's prompts and generations. */
  readonly generation: GenerationDefaults;
}

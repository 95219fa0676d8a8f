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
  maxPromptTokens: number;
  maxNewTokens: number;
  minNewTokens: number;
  topK: number;
}

/** A task: prompt records per split, reward, metrics and decoding defaults. */
export interface Task {
  readonly name: string;
  records(split: Split): Promise<PromptRecord[]>;
  readonly reward: RewardFunction;
  readonly metrics: MetricFunction;
  readonly generation: GenerationDefaults;
}

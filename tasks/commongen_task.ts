/**
 * The CommonGen task (spec "Tasks"): write a sentence using every concept of a set. Its reward
 * (SPIDEr-style) and metrics (BLEU, CIDEr-D, ROUGE-L, ...) live in `rewards/` and are injected.
 * @module
 */
import { InputError } from "../core/errors.ts";
import { conceptCoverage } from "../rewards/concept_coverage.ts";
import type { MetricFunction, RewardFunction, ScoringBatch } from "../rewards/types.ts";
import {
  commonGenConcepts,
  commonGenPrompt,
  type CommonGenSplit,
  type ConceptSet,
  loadCommonGenSplit,
} from "./commongen.ts";
import type { GenerationDefaults, PromptRecord, Split, Task } from "./types.ts";

/**
 * CommonGen's decoding defaults: 20 new tokens (tril commongen.yaml `max_new_tokens: 20`,
 * `min_length: 5`, training `top_k: 0`). Prompts are 20 tokens at most: tril's 15 counts T5 tokens,
 * and GPT-2 needs a few more for the same template.
 */
export const COMMONGEN_GENERATION: Readonly<GenerationDefaults> = Object.freeze({
  maxPromptTokens: 20,
  maxNewTokens: 20,
  minNewTokens: 5,
  topK: 0,
});

/** Options of {@linkcode createCommonGenTask}. */
export interface CommonGenTaskOptions {
  /** The data folder (see `loadCommonGenSplit`). */
  dataDir: string;
  /** The SPIDEr-style reward, fed with `references`. */
  reward: RewardFunction;
  /** BLEU-4, METEOR, ROUGE-L, CIDEr-D, SPICE, SPIDEr, BERTScore, as configured. */
  metrics: MetricFunction;
  /** Decoding defaults. @default COMMONGEN_GENERATION */
  generation?: GenerationDefaults;
}

const SPLIT_FILES: Record<Split, CommonGenSplit> = {
  train: "train",
  val: "validation",
  test: "test",
};

/**
 * Turns concept sets into prompt records (id = `concept_set_idx`, references pooled).
 * @param sets the concept sets of one split
 * @returns one record per set
 */
export function commonGenRecords(sets: ConceptSet[]): PromptRecord[] {
  return sets.map((set) => ({
    id: String(set.index),
    prompt: commonGenPrompt(set.concepts),
    references: set.references,
    meta: { concepts: set.concepts },
  }));
}

/**
 * `metrics` plus CommonGen's own, `lexical/coverage`: the share of each prompt's concepts the
 * generation uses (rewards/concept_coverage.ts), averaged over the set.
 * @param metrics the caption metrics
 * @returns the metric function the task reports
 */
export function withCoverage(metrics: MetricFunction): MetricFunction {
  return async (batch: ScoringBatch) => {
    const concepts = batch.prompts.map((prompt, i) => {
      const set = commonGenConcepts(prompt);
      if (!set) {
        throw new InputError(
          `prompt ${i} ${JSON.stringify(prompt)} is not a CommonGen prompt ` +
            '("generate a sentence with: <concepts>.")',
          "commongen metrics",
        );
      }
      return set;
    });
    return {
      ...await metrics(batch),
      "lexical/coverage": conceptCoverage(batch.generations, concepts).corpus,
    };
  };
}

/**
 * Builds the CommonGen task; each split is read on first use and kept.
 * @param options data folder, reward, metrics
 * @returns the task
 */
export function createCommonGenTask(options: CommonGenTaskOptions): Task {
  const cache = new Map<Split, Promise<PromptRecord[]>>();
  return {
    name: "commongen",
    records: async (split) => {
      let records = cache.get(split);
      if (!records) {
        records = loadCommonGenSplit(options.dataDir, SPLIT_FILES[split]).then(commonGenRecords);
        cache.set(split, records);
      }
      try {
        return await records;
      } catch (error) {
        cache.delete(split);
        throw error;
      }
    },
    reward: options.reward,
    metrics: withCoverage(options.metrics),
    generation: options.generation ?? { ...COMMONGEN_GENERATION },
  };
}

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
  return async (batch: ScoringBatch) => ({
    ...await metrics(batch),
    "lexical/coverage": conceptCoverage(batch.generations, promptConcepts(batch, "metrics"))
      .corpus,
  });
}

/**
 * `reward` plus `weight` × each row's concept coverage: a bonus for using the prompt's
 * concepts, CommonGen's own requirement, which CIDEr-D rewards only through n-gram overlap.
 * @param reward the base reward (CIDEr-D or SPIDEr)
 * @param weight the bonus for full coverage (0 returns `reward` itself)
 * @returns the reward function
 */
export function withCoverageBonus(reward: RewardFunction, weight: number): RewardFunction {
  if (!(weight >= 0 && Number.isFinite(weight))) {
    throw new RangeError(`The coverage weight must be a finite number ≥ 0, got ${weight}`);
  }
  if (weight === 0) return reward;
  return async (batch: ScoringBatch) => {
    const coverage = conceptCoverage(batch.generations, promptConcepts(batch, "reward")).perItem;
    return (await reward(batch)).map((r, i) => r + weight * coverage[i]);
  };
}

/** The concepts of each prompt of a batch, or an error naming the prompt that is not one. */
function promptConcepts(batch: ScoringBatch, who: string): string[][] {
  return batch.prompts.map((prompt, i) => {
    const set = commonGenConcepts(prompt);
    if (!set) {
      throw new InputError(
        `prompt ${i} ${JSON.stringify(prompt)} is not a CommonGen prompt ` +
          '("generate a sentence with: <concepts>.")',
        `commongen ${who}`,
      );
    }
    return set;
  });
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

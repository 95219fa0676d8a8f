/**
 * The IMDB sentiment-continuation task (spec "Tasks"): prompts are review openings, the reward is
 * P(positive) of prompt + generation.
 * @module
 */
import { Rng } from "../core/prng.ts";
import type { Tokenizer } from "../models/types.ts";
import type { MetricFunction, RewardFunction } from "../rewards/types.ts";
import { imdbPrompt, type ImdbReview, loadImdbSplit } from "./imdb.ts";
import type { GenerationDefaults, PromptRecord, Split, Task } from "./types.ts";

/** IMDB's decoding defaults: prompt 64 tokens, exactly 48 new tokens, top-k 50 (tril imdb.yaml). */
export const IMDB_GENERATION: Readonly<GenerationDefaults> = Object.freeze({
  maxPromptTokens: 64,
  maxNewTokens: 48,
  minNewTokens: 48,
  topK: 50,
});

/** Options of {@linkcode createImdbTask}. */
export interface ImdbTaskOptions {
  /** The data folder (see `loadImdbSplit`); resolve it with `resolveDataDir`. */
  dataDir: string;
  /** The policy's tokenizer, for the 64-token left truncation. */
  tokenizer: Tokenizer;
  /** P(positive) of prompt + generation (`SentimentClassifier.asReward()` or the ONNX reward). */
  reward: RewardFunction;
  /**
   * Corpus metrics; the default reports `sentiment/mean` (the mean reward). Add perplexity by
   * passing a function that merges both.
   */
  metrics?: MetricFunction;
  /** Seed of the train/val split and of the test subset. @default 42 */
  seed?: number;
  /** Test reviews used. @default 5000 */
  testSize?: number;
  /** Decoding defaults. @default IMDB_GENERATION */
  generation?: GenerationDefaults;
}

/** Review indices of each split of the task. */
export interface ImdbSplitIndices {
  /** Indices into the training reviews: the first 80 % of the shuffle. */
  train: number[];
  /** Indices into the training reviews: the last 20 % of the shuffle. */
  val: number[];
  /** Indices into the test reviews: the first `testSize` of their shuffle. */
  test: number[];
  /**
   * Indices into the test reviews: the last {@linkcode IMDB_HELD_OUT_REVIEWS} of their shuffle,
   * which no run trains or evaluates prompts on (held-out bits per byte of base models).
   */
  heldOut: number[];
}

/** Test reviews kept out of every split a run uses, for held-out bits per byte. */
export const IMDB_HELD_OUT_REVIEWS = 1000;

/** Held-out reviews an evaluation scores (`fluency/bits_per_byte`): the first of them. */
export const IMDB_HELD_OUT_EVAL_REVIEWS = 200;

/**
 * The spec's split: the 25,000 training reviews shuffled by `Rng(seed).child("imdb-train-val")`,
 * first 80 % train, last 20 % val; test = the first `testSize` of the test reviews shuffled by
 * `Rng(seed).child("imdb-test")` (positive and negative both used), never reaching the last
 * {@linkcode IMDB_HELD_OUT_REVIEWS} of that shuffle (`heldOut`).
 * @param trainCount reviews in the original train split
 * @param testCount reviews in the original test split
 * @param options seed and test size
 * @returns indices into the train split (train, val) and the test split (test, heldOut)
 */
export function imdbSplitIndices(
  trainCount: number,
  testCount: number,
  options: { seed?: number; testSize?: number } = {},
): ImdbSplitIndices {
  const rng = new Rng(options.seed ?? 42);
  const shuffled = rng.child("imdb-train-val").shuffle([...Array(trainCount).keys()]);
  const cut = Math.floor(trainCount * 0.8);
  const test = rng.child("imdb-test").shuffle([...Array(testCount).keys()]);
  const heldOut = Math.min(IMDB_HELD_OUT_REVIEWS, Math.floor(testCount / 5));
  return {
    train: shuffled.slice(0, cut),
    val: shuffled.slice(cut),
    test: test.slice(0, Math.min(options.testSize ?? 5000, testCount - heldOut)),
    heldOut: test.slice(testCount - heldOut),
  };
}

/**
 * The held-out reviews' texts (`imdbSplitIndices(...).heldOut`, from the test split): text no
 * base model trains on and no run evaluates prompts from, for held-out bits per byte.
 * @param dataDir the data folder
 * @param count how many (default all)
 */
export async function loadImdbHeldOut(dataDir: string, count?: number): Promise<string[]> {
  const test = await loadImdbSplit(dataDir, "test");
  const { heldOut } = imdbSplitIndices(0, test.length);
  return heldOut.slice(0, count ?? heldOut.length).map((i) => test[i].text);
}

/**
 * Builds the IMDB task; data is read on the first `records()` call and kept.
 * @param options data folder, tokenizer, reward, metrics and seed
 * @returns the task
 */
export function createImdbTask(options: ImdbTaskOptions): Task {
  const { reward, tokenizer } = options;
  const generation = options.generation ?? { ...IMDB_GENERATION };
  let loaded: Promise<Record<Split, PromptRecord[]>> | undefined;
  const load = async (): Promise<Record<Split, PromptRecord[]>> => {
    const train = await loadImdbSplit(options.dataDir, "train");
    const test = await loadImdbSplit(options.dataDir, "test");
    const split = imdbSplitIndices(train.length, test.length, options);
    const toRecord = (review: ImdbReview): PromptRecord => {
      const { prompt, reference } = imdbPrompt(review, tokenizer, generation.maxPromptTokens);
      return { id: review.id, prompt, references: [reference], meta: { label: review.label } };
    };
    return {
      train: split.train.map((i) => toRecord(train[i])),
      val: split.val.map((i) => toRecord(train[i])),
      test: split.test.map((i) => toRecord(test[i])),
    };
  };
  const metrics: MetricFunction = options.metrics ?? (async (batch) => {
    const scores = await reward(batch);
    const mean = scores.reduce((a, b) => a + b, 0) / Math.max(scores.length, 1);
    return { "sentiment/mean": mean };
  });
  return {
    name: "imdb",
    records: async (split) => {
      loaded ??= load();
      try {
        return (await loaded)[split];
      } catch (error) {
        loaded = undefined; // let a later call retry after the data is fixed
        throw error;
      }
    },
    reward,
    metrics,
    generation,
  };
}

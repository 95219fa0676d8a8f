/**
 * Test helper: a tiny GPT learner, its critics and a toy task, as an AlgorithmState.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { lastValueFrom, toArray } from "rxjs";
import { Rng } from "../core/prng.ts";
import { createGPT2, gpt2WeightShapes } from "../models/gpt2.ts";
import { createLoraAdapters, type LoraConfig } from "../models/lora.ts";
import { createValueModel } from "../models/value.ts";
import type { TokenGenerator } from "../models/types.ts";
import { evaluatePolicy } from "../pipelines/evaluate.ts";
import type { IterationMetrics } from "../pipelines/iteration.ts";
import {
  algorithmNeeds,
  parseAlgorithm,
  RL_ALGORITHMS,
  runAlgorithm,
} from "../pipelines/run_algorithm.ts";
import {
  type AlgorithmState,
  createAlgorithmState,
  disposeAlgorithmState,
} from "../pipelines/state.ts";
import { type TrainOptions, trainOptions } from "../pipelines/options.ts";
import type { Task } from "../tasks/types.ts";
import { toyGuide, ToyTokenizer } from "../tasks/toy.ts";

/** A tiny GPT: vocabulary 16, width 16, one layer. */
export const TINY_GPT = {
  vocabSize: 16,
  nPositions: 32,
  nEmbd: 16,
  nLayer: 1,
  nHead: 2,
  bosTokenId: 0,
  eosTokenId: 0,
};

/** The thesis test's budget on the sparse task: 40 iterations × 64 trajectories of 3 tokens. */
export const SPARSE_BUDGET = Object.freeze({
  iterations: 40,
  trajectoriesPerUpdate: 64,
  learner: { minibatchSize: 32 },
  generation: { maxNewTokens: 3 },
});

/** Fast toy options: short horizon, small batches, a large learning rate. */
export function toyOptions(overrides: Record<string, unknown> = {}): TrainOptions {
  const base = {
    iterations: 2,
    trajectoriesPerUpdate: 16,
    learningRate: 1e-2,
    maxPromptTokens: 8,
    learner: { epochs: 2, minibatchSize: 8, targetCoef: 0 },
    kl: { coef: 0.01 },
    generation: { maxNewTokens: 4, minNewTokens: 0, topK: 0, topP: 1, temperature: 1 },
  };
  return trainOptions(deepMerge(base, overrides));
}

function deepMerge(
  a: Record<string, unknown>,
  b: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] = prev && typeof prev === "object" && v && typeof v === "object" && !Array.isArray(v)
      ? deepMerge(prev as Record<string, unknown>, v as Record<string, unknown>)
      : v;
  }
  return out;
}

/** Builds the state for `task` with a tiny GPT learner seeded by `seed`. */
export async function toyState(
  task: Task,
  seed: number,
  options: TrainOptions,
  extra: {
    guide?: TokenGenerator;
    guideCritic?: boolean;
    lora?: LoraConfig;
    baseInitRange?: number;
  } = {},
): Promise<AlgorithmState> {
  const rng = new Rng(seed);
  const base = createGPT2(
    extra.lora ? { ...TINY_GPT, initializerRange: extra.baseInitRange ?? 0.02 } : TINY_GPT,
    rng.child("learner-init"),
  );
  // with LoRA the learner is adapters over the frozen base (the critics copy the base trunk)
  const learner = extra.lora
    ? base.withLora(
      createLoraAdapters(gpt2WeightShapes(base.config), extra.lora, rng.child("lora-init")),
    )
    : base;
  const critics = {
    learner: createValueModel(learner, rng.child("critic-init")),
    ...(extra.guideCritic
      ? { guide: createValueModel(learner, rng.child("guide-critic-init")) }
      : {}),
  };
  if (extra.lora) base.dispose(); // the views hold the base now
  return createAlgorithmState({
    learner,
    guide: extra.guide ?? null,
    critics,
    tokenizer: new ToyTokenizer(),
    records: await task.records("train"),
    reward: task.reward,
    rng: rng.child("run"),
  }, options);
}

/** The learner's own mean reward on the task's val prompts, sampled as it trained. */
export async function learnerScore(
  state: AlgorithmState,
  task: Task,
  options: TrainOptions,
  seed: number,
): Promise<number> {
  const { rewardMean } = await evaluatePolicy(state.learner, await task.records("val"), {
    tokenizer: state.tokenizer,
    reward: task.reward,
    generation: options.generation,
    maxPromptTokens: options.maxPromptTokens,
    rng: new Rng(seed).child("evaluation"),
  });
  return rewardMean;
}

/**
 * Trains `algorithm` (with the "caf" guide and the critics it needs) on `task` and
 * returns its metrics and the learner's own score from the prompt alone; checks that
 * training leaves no tensor behind.
 */
export async function trainAndEvaluate(
  algorithm: string,
  task: Task,
  seed: number,
  overrides: Record<string, unknown>,
): Promise<{ metrics: IterationMetrics[]; score: number }> {
  const options = toyOptions(overrides);
  options.generation.eosTokenId = null;
  const { rl } = parseAlgorithm(algorithm);
  const critics = rl === null ? [] : algorithmNeeds(RL_ALGORITHMS[rl](options)).critics;
  const state = await toyState(task, seed, options, {
    guide: toyGuide("caf", new ToyTokenizer()),
    guideCritic: critics.includes("guide"),
  });
  try {
    const tensors = tf.memory().numTensors;
    const all = await lastValueFrom(
      runAlgorithm(algorithm, state, options, { clock: () => 0 }).pipe(toArray()),
    );
    if (tf.memory().numTensors !== tensors) {
      throw new Error(`${algorithm} leaked ${tf.memory().numTensors - tensors} tensors`);
    }
    return {
      metrics: all as IterationMetrics[],
      score: await learnerScore(state, task, options, seed),
    };
  } finally {
    disposeAlgorithmState(state);
  }
}

/** The mean evaluation score of `algorithm` over `seeds` (bimodal tasks need several). */
export async function meanScore(
  algorithm: string,
  task: Task,
  seeds: readonly number[],
  overrides: Record<string, unknown>,
): Promise<number> {
  let sum = 0;
  for (const seed of seeds) sum += (await trainAndEvaluate(algorithm, task, seed, overrides)).score;
  return sum / seeds.length;
}

/**
 * Builds what a run trains: the learner, reference, guide, critics, prompts and
 * reward for a {@linkcode RunConfig}, plus the baselines the report compares
 * against. Models that a preset builds (tokenizer, pretrained policy, BC guide,
 * sentiment classifier) come from the cache (cli/build_cache.ts).
 * @module
 */
import { Rng } from "../core/prng.ts";
import { createGPT2 } from "../models/gpt2.ts";
import { createLoraAdapters } from "../models/lora.ts";
import {
  type EngineMode,
  loraGraphSpec,
  onEngine,
  OnnxAcceleratedValueModel,
  openEngine,
} from "../models/engine/mod.ts";
import type { PolicyModel } from "../models/t5_checkpoint.ts";
import {
  causalContextLength,
  type PolicyLM,
  type TokenGenerator,
  type Tokenizer,
} from "../models/types.ts";
import { createValueModel, type LinearValueModel } from "../models/value.ts";
import { algorithmNeeds, parseAlgorithm, RL_ALGORITHMS } from "../pipelines/run_algorithm.ts";
import { type AlgorithmState, createAlgorithmState } from "../pipelines/state.ts";
import type { RewardFunction } from "../rewards/types.ts";
import { toyDenseTask, toyGuide, toySparseTask, ToyTokenizer } from "../tasks/toy.ts";
import type { PromptRecord, Task } from "../tasks/types.ts";
import type { RunConfig } from "./config.ts";
import { type ApiGuideEnv, loadExternalGuide } from "./guide_parts.ts";
import { imdbSmallParts } from "./imdb_small.ts";
import { imdbGpt2Parts } from "./imdb_gpt2.ts";
import { commonGenSmallParts } from "./commongen_small.ts";
import { ConfigError } from "../core/errors.ts";

/** Everything a run needs, built. */
export interface RunSetup {
  state: AlgorithmState;
  task: Task;
  tokenizer: Tokenizer;
  /** Held-out prompts for the final evaluation. */
  evalRecords: PromptRecord[];
  /** Policies the report compares the learner against (e.g. zero-shot, the BC guide). */
  baselines: { name: string; policy: TokenGenerator }[];
  /**
   * Metrics of a model itself rather than of its generations (IMDB: held-out bits per byte),
   * added to each evaluated model's row; absent: none.
   */
  policyMetrics?: (policy: TokenGenerator) => Promise<Record<string, number>>;
  /** The trained models, typed for saving. */
  learner: PolicyModel;
  /**
   * The folder the learner's initial weights came from (absolute), when they came from one: a
   * LoRA learner's adapter names it as its base.
   */
  learnerDir?: string;
  critics: Partial<Record<"learner" | "guide", LinearValueModel>>;
  /** Frees every model. */
  dispose(): void;
}

/** The parts every task builds before the shared wiring. */
export interface TaskParts {
  task: Task;
  tokenizer: Tokenizer;
  learner: PolicyModel;
  guide: TokenGenerator | null;
  reward: RewardFunction;
  /**
   * The zero-shot baseline when the learner does not start from it (e.g. warm-started from the
   * BC guide); absent: a copy of the learner's initial weights. Freed by the setup.
   */
  zeroShot?: PolicyModel;
  /** Baselines besides the zero-shot model. */
  baselines: { name: string; policy: TokenGenerator }[];
  /** Metrics of a model itself (see {@linkcode RunSetup.policyMetrics}). */
  policyMetrics?: (policy: TokenGenerator) => Promise<Record<string, number>>;
  /** Models to free at the end besides the learner. */
  owned: { dispose(): void }[];
  /** The folder the learner's weights were loaded from (absolute), if any. */
  learnerDir?: string;
}

/** Builds the toy task's parts: a tiny GPT and the hand-built guide (or a dir/onnx/api guide). */
export async function toyParts(
  config: RunConfig,
  rng: Rng,
  api: ApiGuideEnv = {},
): Promise<TaskParts> {
  const task = config.task.name === "toy-dense"
    ? toyDenseTask({ maxNewTokens: config.train.generation.maxNewTokens, seed: config.seed })
    : toySparseTask({ maxNewTokens: config.train.generation.maxNewTokens, seed: config.seed });
  const tokenizer = new ToyTokenizer();
  const learner = createGPT2({
    vocabSize: tokenizer.vocabSize,
    nPositions: config.policy.nPositions,
    nEmbd: config.policy.nEmbd,
    nLayer: config.policy.nLayer,
    nHead: config.policy.nHead,
    bosTokenId: tokenizer.eosTokenId,
    eosTokenId: tokenizer.eosTokenId,
  }, rng.child("learner-init"));
  const external = config.guide.kind === "toy"
    ? null
    : await loadExternalGuide(config, tokenizer, tokenizer.vocabSize, api);
  const guide = config.guide.kind === "toy" ? toyGuide("caf", tokenizer) : external?.guide ?? null;
  return {
    task,
    tokenizer,
    learner,
    guide,
    reward: task.reward,
    baselines: guide ? [{ name: "guide", policy: guide }] : [],
    owned: external?.owned ?? [],
  };
}

/**
 * Checks that a prompt (left-truncated to `train.maxPromptTokens`) and a full generation
 * fit the policy's context, so an over-long setting fails before any work, naming the field.
 * @param config the run config
 * @param nPositions the policy's context length
 * @throws {ConfigError} naming `train.maxPromptTokens` and the numbers
 */
export function checkContextFits(config: RunConfig, nPositions: number): void {
  const prompt = config.train.maxPromptTokens;
  const horizon = config.train.generation.maxNewTokens;
  if (prompt + horizon > nPositions) {
    throw new ConfigError(
      "train.maxPromptTokens",
      `${prompt} prompt tokens + train.generation.maxNewTokens ${horizon} = ${
        prompt + horizon
      } exceed the policy's context of ${nPositions} positions; lower one of them ` +
        "(longer prompts are left-truncated to train.maxPromptTokens)",
    );
  }
}

/**
 * The learner as LoRA adapters over its initial weights (frozen from now on, and shared with
 * the reference, the zero-shot baseline and the critics, which copy the adapters only).
 */
function withLora(config: RunConfig, learner: PolicyModel, rng: Rng): PolicyModel {
  const layout = learner.loraLayout;
  const shapes = new Map([...learner.weights].map(([name, w]) => [name, w.shape]));
  const adapters = createLoraAdapters(
    shapes,
    { ...config.lora, targetModules: config.lora.targetModules ?? [...layout.defaultTargets] },
    rng.child("lora-init"),
    layout,
  );
  const adapted = learner.withLora(adapters);
  learner.dispose(); // the views hold the base now
  return adapted;
}

/** Wires task parts into an algorithm state with the critics the algorithm needs. */
export async function assembleSetup(
  config: RunConfig,
  parts: TaskParts,
  rng: Rng,
): Promise<RunSetup> {
  // T5's relative positions have no context limit.
  const policyConfig = parts.learner.config;
  if (!("dModel" in policyConfig)) checkContextFits(config, causalContextLength(policyConfig));
  // in place: the caller frees parts.learner if the setup fails, and it must free the view
  if (config.lora.r > 0) parts.learner = withLora(config, parts.learner, rng);
  const { rl } = parseAlgorithm(config.algo);
  // plain BC trains no critic; BC+X needs X's
  const needs = rl === null
    ? { critics: [] as string[] }
    : algorithmNeeds(RL_ALGORITHMS[rl](config.train));
  const critics: Partial<Record<"learner" | "guide", LinearValueModel>> = {};
  if (needs.critics.includes("learner")) {
    critics.learner = createValueModel(parts.learner, rng.child("critic-init"), {
      shared: config.critic.shared,
    });
  }
  if (needs.critics.includes("guide")) {
    critics.guide = createValueModel(parts.learner, rng.child("guide-critic-init"), {
      shared: false,
    });
  }
  let records = await parts.task.records("train");
  if (config.task.trainRecords > 0) records = records.slice(0, config.task.trainRecords);
  let evalRecords = config.task.evalRecords > 0 ? await parts.task.records("val") : [];
  evalRecords = evalRecords.slice(0, config.task.evalRecords);
  const adapters = parts.learner.lora;
  const engine = await openEngine(parts.learner.config, config.engine as EngineMode, {
    ...(adapters ? { lora: loraGraphSpec(adapters) } : {}),
  });
  const fastCritics = Object.fromEntries(
    Object.entries(critics).map((
      [name, critic],
    ) => [name, engine ? new OnnxAcceleratedValueModel(critic!, engine) : critic!]),
  );
  const reference: PolicyModel | null = config.train.kl.enabled ? parts.learner.clone() : null;
  const state = createAlgorithmState({
    learner: onEngine(parts.learner, engine) as PolicyLM,
    reference: onEngine(reference, engine) as PolicyLM | null,
    guide: onEngine(parts.guide, engine),
    critics: fastCritics,
    tokenizer: parts.tokenizer,
    records,
    reward: parts.reward,
    rng: rng.child("run"),
  }, config.train);
  const zeroShot = parts.zeroShot ?? parts.learner.clone();
  return {
    state,
    task: parts.task,
    tokenizer: parts.tokenizer,
    evalRecords,
    // on the engine too: the evaluation samples from every baseline, about 3x faster there
    baselines: [
      { name: "zero-shot", policy: onEngine(zeroShot, engine) },
      ...parts.baselines.map((b) => ({ ...b, policy: onEngine(b.policy, engine) })),
    ],
    ...(parts.policyMetrics ? { policyMetrics: parts.policyMetrics } : {}),
    learner: parts.learner,
    ...(parts.learnerDir ? { learnerDir: parts.learnerDir } : {}),
    critics,
    dispose() {
      state.optimizers.learner.dispose();
      for (const o of Object.values(state.optimizers.critics)) o?.dispose();
      state.reference?.dispose();
      for (const c of Object.values(critics)) c?.dispose();
      parts.learner.dispose();
      zeroShot.dispose();
      for (const o of parts.owned) o.dispose();
      void engine?.dispose();
    },
  };
}

/**
 * Builds the task parts a config names: the toy task, imdb-small (a policy built
 * here), imdb-gpt2 (a policy from a folder) or commongen-small.
 * @param config the run config
 * @param rng the run's random stream
 * @param api an API guide's response cache and counts (the run's)
 * @returns the parts (the caller frees `learner` and `owned`)
 */
export async function buildTaskParts(
  config: RunConfig,
  rng: Rng,
  api: ApiGuideEnv = {},
): Promise<TaskParts> {
  const { name } = config.task;
  const source = config.policy.source;
  if (name.startsWith("toy")) return await toyParts(config, rng, api);
  if (name === "imdb" && (source === "build" || source === "base")) {
    return await imdbSmallParts(config, rng, api);
  }
  if (name === "imdb" && source === "dir") return await imdbGpt2Parts(config, rng, api);
  if (name === "commongen" && source === "build") {
    return await commonGenSmallParts(config, rng, api);
  }
  throw new ConfigError(
    "policy.source",
    `task "${name}" with policy source "${source}" is not supported (commongen needs "build")`,
  );
}

/** Builds the whole setup for a config (`api`: an API guide's cache and counts). */
export async function buildSetup(config: RunConfig, api: ApiGuideEnv = {}): Promise<RunSetup> {
  const rng = new Rng(config.seed);
  return await assembleSetup(config, await buildTaskParts(config, rng, api), rng);
}

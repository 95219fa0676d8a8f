/**
 * Every hyperparameter of the algorithms, with the spec's defaults in one frozen
 * constant; `trainOptions` merges a user's overrides strictly (unknown keys and bad
 * values are errors naming the field).
 * @module
 */
import { checkPositiveInt, checkRange, mergeConfig } from "../core/config.ts";
import { ConfigError } from "../core/errors.ts";
import type { KlControllerConfig } from "../stages/kl_controller.ts";
import type { LearnerConfig } from "../stages/learner_update.ts";
import type { GenerationConfig } from "../stages/types.ts";

/** Options shared by the RL algorithms (and BC's own group). */
export interface TrainOptions {
  /** RL iterations (updates). @default 50 (tril IMDB; the paper: 100) */
  iterations: number;
  /** Trajectories collected per iteration. @default 112 (tril IMDB) */
  trajectoriesPerUpdate: number;
  /** Trajectories per generation call (divides `trajectoriesPerUpdate`; 0 = all at once). @default 0 */
  generationBatchSize: number;
  /** Initial learning rate, decayed linearly to 0 over the run. @default 1e-5 (tril IMDB) */
  learningRate: number;
  /** Initial critic learning rate (same schedule); null = `learningRate`. @default null */
  criticLearningRate: number | null;
  /** AdamW decoupled weight decay (never on biases and norms). @default 0 */
  weightDecay: number;
  /** Discount γ. @default 0.99 */
  gamma: number;
  /** GAE λ. @default 0.95 */
  lambda: number;
  /** Prompts are left-truncated to this many tokens. @default 64 */
  maxPromptTokens: number;
  /** The PPO update. */
  learner: LearnerConfig;
  /** The KL reward and its coefficient's controller. */
  kl: KlControllerConfig & {
    /** Apply the KL reward (spec departure 1: on in every algorithm). @default true */
    enabled: boolean;
    /** Initial coefficient c. @default 0.001 (tril IMDB; the paper: 0.1 adaptive) */
    coef: number;
    /** Per-token KL estimate: "k1" (the spec's) or "k3" (never negative; stages/kl_reward.ts). @default "k1" */
    estimator: "k1" | "k3";
  };
  /** Sampling during training (H = maxNewTokens). @default 48 / 48 / top-k 50 */
  generation: GenerationConfig;
  /** PPO++: β = probability of a guide roll-in prefix. @default 0.2 (paper; tril 0.6) */
  ppoPlusPlus: { beta: number };
  /** AggreVaTeD: β = probability of a learner roll-in prefix. @default 0.8 (paper) */
  aggrevated: { beta: number };
  /** LOLS: p = probability of a PPO++ iteration. @default 0.8 (paper) */
  lols: { p: number };
  /**
   * D2LOLS: AggreVaTeD while iteration < I, then PPO++. I = `switchIteration` when
   * >= 0, else round(`switchFraction` · iterations). @default 0.2 / -1 (paper: 20 of 100; tril 20 of 50)
   */
  d2lols: { switchFraction: number; switchIteration: number };
  /** Behaviour cloning: NLL on (prompt, reference). */
  bc: { iterations: number; batchSize: number; learningRate: number };
  /**
   * The critic-free algorithms' groups (GRPO, RLOO, GRPO++): `size` samples per prompt;
   * `scale` "std" divides group-relative advantages by the group's std (GRPO), "none" does
   * not (Dr. GRPO); `kl` puts the KL to the reference in the loss (GRPO's, the default) or in
   * the reward (ours elsewhere; with "std" the group's std then scales KL noise up whenever
   * the task rewards of a group are equal, e.g. all 0 on a sparse task).
   */
  group: { size: number; scale: "std" | "none"; kl: "reward" | "loss" };
  /** REBEL's η: the log-ratio gap a unit reward gap asks for. */
  rebel: { eta: number };
  /** DR-PO's per-trajectory probability of restarting inside the dataset's reference. */
  drpo: { beta: number };
}

/** The spec's defaults (algorithms.md; tril IMDB where the paper gives none). */
export const TRAIN_DEFAULTS: Readonly<TrainOptions> = Object.freeze<TrainOptions>({
  iterations: 50,
  trajectoriesPerUpdate: 112,
  generationBatchSize: 0,
  learningRate: 1e-5,
  criticLearningRate: null,
  weightDecay: 0,
  gamma: 0.99,
  lambda: 0.95,
  maxPromptTokens: 64,
  learner: {
    epochs: 5,
    minibatchSize: 28,
    clipRange: 0.2,
    clipRangeValue: 0.2,
    vfCoef: 0.5,
    entCoef: 0,
    targetCoef: 0.1,
    normalizeAdvantages: false,
    targetKl: null,
    maxGradNorm: 1,
  },
  kl: { enabled: true, coef: 0.001, kind: "fixed", target: 6, horizon: 10000, estimator: "k1" },
  generation: {
    maxNewTokens: 48,
    minNewTokens: 48,
    topK: 50,
    topP: 1,
    temperature: 1,
    stopAtEos: true,
  },
  ppoPlusPlus: { beta: 0.2 },
  aggrevated: { beta: 0.8 },
  lols: { p: 0.8 },
  d2lols: { switchFraction: 0.2, switchIteration: -1 },
  bc: { iterations: 100, batchSize: 16, learningRate: 1e-4 },
  group: { size: 4, scale: "std", kl: "loss" },
  rebel: { eta: 1 },
  drpo: { beta: 0.5 },
});

/**
 * Merges overrides into {@linkcode TRAIN_DEFAULTS} and checks every value.
 *
 * @param overrides a partial options object (e.g. parsed from a config file)
 * @returns complete, checked options
 */
export function trainOptions(overrides: unknown = {}): TrainOptions {
  const o = mergeConfig(TRAIN_DEFAULTS as TrainOptions, withoutDerivedEos(overrides), {
    nullable: ["criticLearningRate", "learner.targetKl"],
  });
  checkPositiveInt("iterations", o.iterations);
  checkPositiveInt("trajectoriesPerUpdate", o.trajectoriesPerUpdate);
  if (
    !Number.isInteger(o.generationBatchSize) || o.generationBatchSize < 0 ||
    (o.generationBatchSize > 0 && o.trajectoriesPerUpdate % o.generationBatchSize !== 0)
  ) {
    throw new ConfigError(
      "generationBatchSize",
      `expected 0 or a divisor of trajectoriesPerUpdate (${o.trajectoriesPerUpdate}), got ${o.generationBatchSize}`,
    );
  }
  checkRange("learningRate", o.learningRate, 0, 1);
  if (o.criticLearningRate !== null) checkRange("criticLearningRate", o.criticLearningRate, 0, 1);
  checkRange("weightDecay", o.weightDecay, 0, 1);
  checkRange("gamma", o.gamma, 0, 1);
  checkRange("lambda", o.lambda, 0, 1);
  checkPositiveInt("maxPromptTokens", o.maxPromptTokens);
  checkPositiveInt("learner.epochs", o.learner.epochs);
  checkPositiveInt("learner.minibatchSize", o.learner.minibatchSize);
  checkRange("learner.clipRange", o.learner.clipRange, 0, 10);
  checkRange("learner.clipRangeValue", o.learner.clipRangeValue, 0, Number.MAX_VALUE);
  for (const key of ["vfCoef", "entCoef", "targetCoef"] as const) {
    checkRange(`learner.${key}`, o.learner[key], 0, Number.MAX_VALUE);
  }
  if (o.learner.targetKl !== null) {
    if (typeof o.learner.targetKl !== "number") {
      throw new ConfigError(
        "learner.targetKl",
        `expected a number or null, got ${o.learner.targetKl}`,
      );
    }
    checkRange("learner.targetKl", o.learner.targetKl, 0, Number.MAX_VALUE);
  }
  checkRange("learner.maxGradNorm", o.learner.maxGradNorm, 0, Number.MAX_VALUE);
  if (!["fixed", "ziegler", "rl4lms"].includes(o.kl.kind)) {
    throw new ConfigError("kl.kind", `expected "fixed", "ziegler" or "rl4lms", got "${o.kl.kind}"`);
  }
  checkRange("kl.coef", o.kl.coef, 0, Number.MAX_VALUE);
  if (!["k1", "k3"].includes(o.kl.estimator)) {
    throw new ConfigError("kl.estimator", `expected "k1" or "k3", got "${o.kl.estimator}"`);
  }
  checkRange("kl.target", o.kl.target, Number.MIN_VALUE, Number.MAX_VALUE);
  checkRange("kl.horizon", o.kl.horizon, Number.MIN_VALUE, Number.MAX_VALUE);
  checkPositiveInt("generation.maxNewTokens", o.generation.maxNewTokens);
  if (o.generation.stopAtEos === false) o.generation.eosTokenId = null;
  checkRange("generation.minNewTokens", o.generation.minNewTokens, 0, o.generation.maxNewTokens);
  checkRange("generation.topK", o.generation.topK, 0, Number.MAX_SAFE_INTEGER);
  checkRange("generation.topP", o.generation.topP, Number.MIN_VALUE, 1);
  checkRange("generation.temperature", o.generation.temperature, Number.MIN_VALUE, 100);
  checkRange("ppoPlusPlus.beta", o.ppoPlusPlus.beta, 0, 1);
  checkRange("aggrevated.beta", o.aggrevated.beta, 0, 1);
  checkRange("lols.p", o.lols.p, 0, 1);
  checkRange("d2lols.switchFraction", o.d2lols.switchFraction, 0, 1);
  if (!Number.isInteger(o.d2lols.switchIteration) || o.d2lols.switchIteration < -1) {
    throw new ConfigError(
      "d2lols.switchIteration",
      `expected -1 or a non-negative integer, got ${o.d2lols.switchIteration}`,
    );
  }
  checkPositiveInt("bc.iterations", o.bc.iterations);
  checkPositiveInt("bc.batchSize", o.bc.batchSize);
  checkRange("bc.learningRate", o.bc.learningRate, 0, 1);
  if (!Number.isInteger(o.group.size) || o.group.size < 2) {
    throw new ConfigError("group.size", `expected an integer of at least 2, got ${o.group.size}`);
  }
  if (!["std", "none"].includes(o.group.scale)) {
    throw new ConfigError("group.scale", `expected "std" or "none", got "${o.group.scale}"`);
  }
  if (!["reward", "loss"].includes(o.group.kl)) {
    throw new ConfigError("group.kl", `expected "reward" or "loss", got "${o.group.kl}"`);
  }
  checkRange("rebel.eta", o.rebel.eta, Number.MIN_VALUE, Number.MAX_VALUE);
  checkRange("drpo.beta", o.drpo.beta, 0, 1);
  return o;
}

/**
 * Drops `generation.eosTokenId: null` when it only restates `stopAtEos: false`
 * (a resolved config carries both); any other `eosTokenId` is not a config key.
 */
function withoutDerivedEos(overrides: unknown): unknown {
  const generation = (overrides as { generation?: Record<string, unknown> } | null)?.generation;
  if (!generation || typeof generation !== "object" || !("eosTokenId" in generation)) {
    return overrides;
  }
  if (generation.eosTokenId !== null || generation.stopAtEos !== false) {
    throw new ConfigError(
      "generation.eosTokenId",
      "is not a config key; set generation.stopAtEos (false: trajectories run to the horizon)",
    );
  }
  const { eosTokenId: _derived, ...rest } = generation;
  return { ...(overrides as Record<string, unknown>), generation: rest };
}

/**
 * The state an algorithm runs on: models, critics, optimizers, the data, the reward,
 * the random stream and the KL coefficient. Pipelines receive it explicitly and
 * mutate only its weights, optimizer moments and `klCoef`.
 * @module
 */
import type { Rng } from "../core/prng.ts";
import type { PolicyLM, TokenGenerator, Tokenizer, ValueModel } from "../models/types.ts";
import type { RewardFunction } from "../rewards/types.ts";
import { AdamW } from "../stages/adamw.ts";
import type { CriticName } from "../stages/types.ts";
import type { PromptRecord } from "../tasks/types.ts";
import type { TrainOptions } from "./options.ts";

/** Everything a pipeline reads and updates. */
export interface AlgorithmState {
  /** π_θ, trained. */
  learner: PolicyLM;
  /** π_ref, a frozen copy of the learner's initial weights; null = no KL reward. */
  reference: PolicyLM | null;
  /** π^g, frozen; needed by the guided algorithms. */
  guide: TokenGenerator | null;
  /** The learner critic, and the separate guide critic of LOLS and D2LOLS. */
  critics: Partial<Record<CriticName, ValueModel>>;
  /** The learner's optimizer and each critic's own (over its variables not shared with the learner). */
  optimizers: { learner: AdamW; critics: Partial<Record<CriticName, AdamW>> };
  /** The learner's tokenizer. */
  tokenizer: Tokenizer;
  /** The training prompts. */
  records: PromptRecord[];
  /** The task reward. */
  reward: RewardFunction;
  /** The run's root stream; stages use named children. */
  rng: Rng;
  /** The current KL coefficient (the controller steps it once per iteration). */
  klCoef: number;
}

/** What {@linkcode createAlgorithmState} needs. */
export interface StateParts {
  /** π_θ, the policy to train ({@linkcode disposeAlgorithmState} frees it unless kept). */
  learner: PolicyLM;
  /**
   * π_ref for the KL reward; null turns it off.
   * @default a clone of the learner (when the KL reward is on)
   */
  reference?: PolicyLM | null;
  /** π^g, needed by the guided algorithms (PPO++, AggreVaTeD, LOLS, D2LOLS). @default null */
  guide?: TokenGenerator | null;
  /** The critics by name: the learner critic, plus the guide critic for LOLS and D2LOLS. */
  critics: Partial<Record<CriticName, ValueModel>>;
  /** The learner's tokenizer. */
  tokenizer: Tokenizer;
  /** The training prompts. */
  records: PromptRecord[];
  /** The task reward. */
  reward: RewardFunction;
  /** The run's root stream; stages draw from named children. */
  rng: Rng;
}

/**
 * Builds the state: the reference policy (a clone of the learner unless given) and
 * one AdamW per model. A shared-trunk critic's optimizer gets only its head, since
 * the trunk is the learner's.
 *
 * @param parts models, data, reward and random stream
 * @param options learning rates, weight decay, KL settings
 * @returns the state; dispose it with {@linkcode disposeAlgorithmState}
 */
export function createAlgorithmState(parts: StateParts, options: TrainOptions): AlgorithmState {
  const learnerVars = parts.learner.trainableVariables();
  const owned = new Set(learnerVars.map((v) => v.name));
  const critics: Partial<Record<CriticName, AdamW>> = {};
  for (const [name, critic] of Object.entries(parts.critics) as [CriticName, ValueModel][]) {
    critics[name] = new AdamW(critic.trainableVariables().filter((v) => !owned.has(v.name)), {
      learningRate: options.criticLearningRate ?? options.learningRate,
      weightDecay: options.weightDecay,
    });
  }
  return {
    learner: parts.learner,
    reference: parts.reference !== undefined
      ? parts.reference
      : options.kl.enabled
      ? parts.learner.clone()
      : null,
    guide: parts.guide ?? null,
    critics: { ...parts.critics },
    optimizers: {
      learner: new AdamW(learnerVars, {
        learningRate: options.learningRate,
        weightDecay: options.weightDecay,
      }),
      critics,
    },
    tokenizer: parts.tokenizer,
    records: parts.records,
    reward: parts.reward,
    rng: parts.rng,
    klCoef: options.kl.coef,
  };
}

/**
 * Frees the optimizers and, unless told otherwise, the models the state owns.
 *
 * @param state the state
 * @param options which models to keep (e.g. a learner the caller saves later)
 */
export function disposeAlgorithmState(
  state: AlgorithmState,
  options: { keepLearner?: boolean; keepCritics?: boolean; keepReference?: boolean } = {},
): void {
  state.optimizers.learner.dispose();
  for (const opt of Object.values(state.optimizers.critics)) opt?.dispose();
  if (!options.keepReference) state.reference?.dispose();
  if (!options.keepCritics) {
    for (const critic of Object.values(state.critics)) {
      critic?.dispose();
    }
  }
  if (!options.keepLearner) state.learner.dispose();
}

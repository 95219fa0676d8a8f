/**
 * The driver every RL algorithm shares. An algorithm is a phase (who rolls in, who
 * rolls out, β, the loss masks and the critic) or a chooser of one per iteration;
 * each iteration runs prompts → roll-in → switch points → roll-out → masks → reward
 * → log-probs → KL reward → values → GAE → PPO update, and emits its metrics. A phase
 * may bring its own collect stages (GRPO's groups) and its own loss (REBEL's).
 * @module
 */
/** @ignore rxjs documents its own types; we reference them, not re-export them. */
import {
  concatMap,
  defer,
  map,
  type Observable,
  of,
  type OperatorFunction,
  pipe,
  range,
  toArray,
} from "rxjs";
import type { Rng } from "../core/prng.ts";
import type { TokenGenerator } from "../models/types.ts";
import { advantages } from "../stages/advantages.ts";
import { concatBatches } from "../stages/concat_batches.ts";
import { nextKlCoef } from "../stages/kl_controller.ts";
import { klReward } from "../stages/kl_reward.ts";
import { learnerUpdate, type LossFunction, type UpdateStats } from "../stages/learner_update.ts";
import { logProbs } from "../stages/log_probs.ts";
import { lossMasks, type MaskRule } from "../stages/loss_masks.ts";
import { promptSource } from "../stages/prompt_source.ts";
import { datasetRollIn, rollIn } from "../stages/roll_in.ts";
import { rollOut } from "../stages/roll_out.ts";
import { rollInCoins, switchPoints, type SwitchPointSampler } from "../stages/switch_points.ts";
import { taskReward } from "../stages/task_reward.ts";
import { groupLeaderCoins, shareGroupRollIns } from "../stages/groups.ts";
import type {
  CriticName,
  GroupFields,
  KlFields,
  LogProbFields,
  MaskFields,
  PolicyName,
  PromptBatch,
  RewardFields,
  RollInFields,
  RollInSource,
  RollOutFields,
  SwitchFields,
  Trajectories,
} from "../stages/types.ts";
import { values } from "../stages/values.ts";
import type { TrainOptions } from "./options.ts";
import type { AlgorithmState } from "./state.ts";

/**
 * The stages of one iteration from prompt batches to trajectories ready for the learner
 * (default {@linkcode collectTrajectories}, the spec's).
 */
export type CollectStages = (
  state: AlgorithmState,
  phase: Phase,
  options: TrainOptions,
) => OperatorFunction<PromptBatch, Trajectories>;

/** One iteration's recipe (spec table, one row). */
export interface Phase {
  /** Reported in the metrics, e.g. "ppo++". */
  name: string;
  /** The roll-in policy, or "dataset" (the reference continuation); null = no roll-in (k = 0). */
  rollIn: RollInSource | null;
  /** The roll-out policy. */
  rollOut: PolicyName;
  /** Per-trajectory probability of a roll-in prefix. */
  beta: number;
  /** Replaces the spec's switch-point sampler (custom algorithms). */
  switchPoint?: SwitchPointSampler;
  /** Tokens in the policy loss. */
  policyMask: MaskRule;
  /** Tokens in the value loss. */
  valueMask: MaskRule;
  /** The critic that gives V and is trained; null = critic-free (the collect stages give advantages). */
  critic: CriticName | null;
  /** KL to the reference as a per-token reward (default) or as a penalty in the loss (GRPO). */
  kl?: "reward" | "loss";
  /** Replaces the spec's collect stages (critic-free and grouped algorithms). */
  collect?: CollectStages;
  /** Replaces PPO's clipped loss (REBEL). */
  loss?: LossFunction;
  /** What custom stages use beyond `rollIn`, `rollOut` and `critic` (e.g. a guide). */
  needs?: { guide?: boolean };
}

/** What a phase needs in the state, derived from its fields. */
export function phaseNeeds(phase: Phase): { guide: boolean; critic: CriticName | null } {
  return {
    guide: phase.rollIn === "guide" || phase.rollOut === "guide" || phase.needs?.guide === true,
    critic: phase.critic,
  };
}

/** Picks the phase of an iteration (LOLS's coin, D2LOLS's schedule). */
export type PhaseChooser = (iteration: number, rng: Rng) => Phase;

/** What each iteration emits (snake_case keys, one JSON line of metrics.jsonl). */
export interface IterationMetrics {
  /** 0-based iteration number (plus `RunOptions.iterationOffset`). */
  iteration: number;
  /** The {@linkcode Phase.name} that ran, e.g. "ppo++" or LOLS's pick of the iteration. */
  phase: string;
  /** Mean task reward over the iteration's trajectories. */
  reward_mean: number;
  /** Population standard deviation of the task reward over the same trajectories. */
  reward_std: number;
  /** Mean over rows where the roll-out policy wrote every token (k = 0). */
  reward_rollout_only: number | null;
  /** Mean per-trajectory summed KL(π_θ ‖ π_ref) estimate. */
  kl: number;
  /** The KL coefficient used in this iteration. */
  kl_coef: number;
  /**
   * The KL part of the reward: mean per-trajectory sum of the per-token KL rewards
   * (−c · KL estimate; 0 when the KL reward is off).
   */
  kl_penalty: number;
  /** Mean generated tokens per trajectory (the response length). */
  response_length: number;
  /** The longest trajectory of the iteration, in generated tokens. */
  response_length_max: number;
  /** Clipped surrogate policy loss, mean over the update's gradient steps. */
  loss_policy: number;
  /** Clipped value loss (before the `vfCoef` weight), mean over the gradient steps. */
  loss_value: number;
  /** Teacher-forced NLL of the reference continuations (0 when `targetCoef` is 0). */
  loss_nll: number;
  /** Mean per-token entropy (nats) of π_θ over the policy-loss tokens. */
  entropy: number;
  /** PPO's approximate KL(π_old ‖ π_θ), mean((ρ - 1) - log ρ) over policy-loss tokens. */
  approx_kl: number;
  /** Fraction of policy-loss tokens whose ratio ρ left [1 - ε, 1 + ε]. */
  clip_fraction: number;
  /** The learner's global gradient L2 norm before clipping, mean over the gradient steps. */
  grad_norm: number;
  /** Gradient steps taken. */
  updates: number;
  /** The learner's learning rate in this iteration. */
  lr: number;
  /** Trajectories sampled in this iteration (the sample budget, with `tokens`). */
  trajectories: number;
  /** Generated tokens in this iteration. */
  tokens: number;
  /** Generated tokens per wall-clock second of the whole iteration. */
  tokens_per_s: number;
  /** Wall-clock seconds of the iteration, generation and update included. */
  seconds: number;
}

/** Options of {@linkcode runIterations} beyond the train options. */
export interface RunOptions {
  /** Wall clock in milliseconds (injected, so tests can fix it). @default performance.now */
  clock?: () => number;
  /** Added to the reported iteration numbers (BC+X continues BC's count). @default 0 */
  iterationOffset?: number;
  /**
   * The first iteration to run, in reported numbering (a resumed run starts at its
   * checkpoint); earlier iterations are skipped. @default 0
   */
  startIteration?: number;
  /**
   * Awaited after each iteration, before the next starts: the place to append
   * metrics and write a checkpoint while the weights are those of that iteration.
   */
  afterIteration?: (metrics: { iteration: number }) => Promise<void>;
}

const POLICIES: readonly PolicyName[] = ["learner", "guide"];
const ROLL_INS: readonly (RollInSource | null)[] = ["learner", "guide", "dataset", null];
const CRITICS: readonly (CriticName | null)[] = ["learner", "guide", null];
const MASKS: readonly string[] = ["all", "suffix", "prefix", "none"];

/**
 * Checks a phase's fields (a chooser's return value included) and throws one
 * clear `TypeError` naming the phase and the field: e.g. a chooser that returns
 * the name "ppo++" instead of a {@linkcode Phase}, or a phase whose `critic` is
 * misspelt.
 *
 * @param phase what a phase chooser returned
 * @returns the phase, checked
 */
export function checkPhase(phase: unknown): Phase {
  if (typeof phase !== "object" || phase === null) {
    throw new TypeError(
      `A phase chooser must return a Phase object ({ name, rollIn, rollOut, beta, policyMask, ` +
        `valueMask, critic }, e.g. ppoPlusPlusPhase(0.2)), got ${describe(phase)}`,
    );
  }
  const p = phase as Record<string, unknown>;
  const label = typeof p.name === "string" && p.name !== "" ? `Phase "${p.name}"` : "A phase";
  const expect = (field: string, ok: boolean, expected: string): void => {
    if (!ok) {
      throw new TypeError(`${label}: ${field} must be ${expected}, got ${describe(p[field])}`);
    }
  };
  expect("name", typeof p.name === "string" && p.name !== "", "a non-empty string");
  expect(
    "rollIn",
    ROLL_INS.includes(p.rollIn as RollInSource),
    '"learner", "guide", "dataset" or null',
  );
  expect("rollOut", POLICIES.includes(p.rollOut as PolicyName), '"learner" or "guide"');
  expect(
    "beta",
    typeof p.beta === "number" && p.beta >= 0 && p.beta <= 1,
    "a number in [0, 1]",
  );
  expect(
    "switchPoint",
    p.switchPoint === undefined || typeof p.switchPoint === "function",
    "a function (rollInLength, rng) => k, or absent",
  );
  for (const field of ["policyMask", "valueMask"]) {
    expect(
      field,
      typeof p[field] === "function" || MASKS.includes(p[field] as string),
      '"all", "suffix", "prefix", "none" or a function (t, k, row) => boolean',
    );
  }
  expect("critic", CRITICS.includes(p.critic as CriticName), '"learner", "guide" or null');
  expect(
    "kl",
    p.kl === undefined || p.kl === "reward" || p.kl === "loss",
    '"reward", "loss" or absent',
  );
  for (const field of ["collect", "loss"]) {
    expect(
      field,
      p[field] === undefined || typeof p[field] === "function",
      "a function, or absent",
    );
  }
  if (p.critic === null && p.collect === undefined) {
    throw new TypeError(
      `${label}: critic is null, so it needs collect stages that give advantages without a ` +
        `critic (e.g. groupAdvantages, as GRPO's)`,
    );
  }
  return phase as Phase;
}

function describe(value: unknown): string {
  if (typeof value === "function") return "a function";
  if (value === undefined) return "undefined";
  return JSON.stringify(value) ?? String(value);
}

/**
 * The sampling stages of a phase: the β coin, roll-in, switch points and roll-out. With
 * `shareGroupRollIns` each group (rows sharing a prompt, from `groupPrompts`) is rolled in
 * once, through its first row, and all its rows restart from that one prefix (GRPO++).
 *
 * @param state models and tokenizer
 * @param phase who rolls in and out, β and the switch-point rule
 * @param options train options (decoding)
 * @param shared whether groups share one roll-in
 * @returns the operator
 */
export function sampleTrajectories<T extends PromptBatch & Partial<GroupFields>>(
  state: AlgorithmState,
  phase: Phase,
  options: TrainOptions,
  shared: { shareGroupRollIns?: boolean } = {},
): OperatorFunction<T, T & RollInFields & SwitchFields & RollOutFields> {
  // Spec departure 2 from tril (actor.py L276/L318 samples "guide" steps from the learner):
  // guide tokens come from the guide itself.
  const policy = (name: PolicyName | null): TokenGenerator | null => {
    if (name === null) return null;
    const found = name === "learner" ? state.learner : state.guide;
    if (!found) throw new RangeError(`Phase "${phase.name}" needs a ${name}, but none is set`);
    return found;
  };
  const generation = options.generation;
  const streams = state.rng.child("stages");
  const switching = {
    beta: phase.beta,
    sampler: phase.switchPoint,
    rng: streams.child("switch-points"),
  };
  const byGroup = shared.shareGroupRollIns === true;
  return pipe(
    // the β coin first: rows it sends straight to the roll-out policy are not rolled in
    rollInCoins<T>(switching),
    byGroup ? groupedOnly(groupLeaderCoins()) : pipe(),
    phase.rollIn === "dataset" ? datasetRollIn() : rollIn({
      policy: policy(phase.rollIn),
      name: phase.rollIn,
      generation,
      rng: streams.child("roll-in"),
    }),
    switchPoints(switching),
    byGroup ? groupedOnly(shareGroupRollIns()) : pipe(),
    rollOut({
      policy: policy(phase.rollOut)!,
      name: phase.rollOut,
      tokenizer: state.tokenizer,
      generation,
      rng: streams.child("roll-out"),
    }),
  ) as OperatorFunction<T, T & RollInFields & SwitchFields & RollOutFields>;
}

/**
 * The scoring stages of a phase: loss masks, task reward, log-probs and the KL reward
 * (none when the phase puts the KL in its loss).
 *
 * @param state learner, reference and reward
 * @param phase the masks and where the KL goes
 * @param options train options (KL settings)
 * @returns the operator
 */
export function scoreTrajectories<
  T extends PromptBatch & RollInFields & SwitchFields & RollOutFields,
>(
  state: AlgorithmState,
  phase: Phase,
  options: TrainOptions,
): OperatorFunction<T, T & MaskFields & RewardFields & LogProbFields & KlFields> {
  return pipe(
    lossMasks<T>({ policy: phase.policyMask, value: phase.valueMask }),
    taskReward(state.reward),
    logProbs({ learner: state.learner, reference: state.reference }),
    // Spec departure 1 from tril: the KL reward applies in every algorithm unless turned off.
    klReward({
      coef: () => state.klCoef,
      enabled: options.kl.enabled && phase.kl !== "loss",
      estimator: options.kl.estimator,
    }),
  );
}

/**
 * The collection stages of one phase, the spec's: sampling, scoring, then the phase's
 * critic's values and GAE.
 *
 * @param state models, critics, tokenizer and reward
 * @param phase the iteration's recipe
 * @param options train options
 * @returns the operator
 */
export function collectTrajectories(
  state: AlgorithmState,
  phase: Phase,
  options: TrainOptions,
): OperatorFunction<PromptBatch, Trajectories> {
  checkPhase(phase);
  if (phase.critic === null) {
    throw new RangeError(
      `Phase "${phase.name}" has no critic; the spec's collect stages need one (give the phase ` +
        `its own collect stages)`,
    );
  }
  const critic = state.critics[phase.critic];
  if (!critic) {
    throw new RangeError(
      `Phase "${phase.name}" needs the ${phase.critic} critic, but state.critics.${phase.critic} ` +
        `is not set (pass it in createAlgorithmState's critics)`,
    );
  }
  return pipe(
    sampleTrajectories(state, phase, options),
    scoreTrajectories(state, phase, options),
    values({ critic, name: phase.critic }),
    advantages({ gamma: options.gamma, lambda: options.lambda }),
  );
}

/** A group stage that first checks the batch is grouped (a clear error when not). */
function groupedOnly<T>(stage: OperatorFunction<T & GroupFields, T & GroupFields>) {
  return pipe(
    map((batch: T & Partial<GroupFields>) => {
      if (!batch.groupSize) {
        throw new RangeError(
          "Sharing roll-ins by group needs grouped prompts (groupPrompts first)",
        );
      }
      return batch as T & GroupFields;
    }),
    stage,
  ) as unknown as OperatorFunction<T, T>;
}

/**
 * Runs `options.iterations` iterations, choosing each one's phase, and emits one
 * metrics object per iteration. Nothing starts until subscribed; the learning rates
 * decay linearly to 0 over the run and the KL controller steps after each update.
 *
 * @param state the state (mutated: weights, optimizer moments, `klCoef`)
 * @param options train options
 * @param choose the phase of each iteration
 * @param run clock and iteration offset
 * @returns the stream of per-iteration metrics
 */
export function runIterations(
  state: AlgorithmState,
  options: TrainOptions,
  choose: PhaseChooser,
  run: RunOptions = {},
): Observable<IterationMetrics> {
  const clock = run.clock ?? (() => performance.now());
  const batchSize = options.generationBatchSize || options.trajectoriesPerUpdate;
  const prompts = promptSource(state.records, {
    tokenizer: state.tokenizer,
    batchSize,
    batchesPerIteration: options.trajectoriesPerUpdate / batchSize,
    maxPromptTokens: options.maxPromptTokens,
    maxNewTokens: options.generation.maxNewTokens,
    rng: state.rng.child("prompts"),
  });
  const phaseRng = state.rng.child("phase");
  const learnerRng = state.rng.child("learner");
  const offset = run.iterationOffset ?? 0;
  const first = Math.min(options.iterations, Math.max(0, (run.startIteration ?? 0) - offset));
  return range(first, options.iterations - first).pipe(
    concatMap((iteration) =>
      defer(() => {
        const phase = checkPhase(choose(iteration, phaseRng));
        const start = clock();
        const decay = 1 - iteration / options.iterations;
        const lr = options.learningRate * decay;
        state.optimizers.learner.learningRate = lr;
        const criticOptimizer = phase.critic === null
          ? undefined
          : state.optimizers.critics[phase.critic];
        if (criticOptimizer) {
          criticOptimizer.learningRate = (options.criticLearningRate ?? options.learningRate) *
            decay;
        }
        return of(iteration).pipe(
          prompts,
          (phase.collect ?? collectTrajectories)(state, phase, options),
          toArray(),
          map((batches) => concatBatches(batches)),
          learnerUpdate({
            learner: state.learner,
            critics: state.critics,
            optimizer: state.optimizers.learner,
            criticOptimizers: state.optimizers.critics,
          }, {
            ...options.learner,
            rng: learnerRng,
            klLossCoef: phase.kl === "loss" && options.kl.enabled ? state.klCoef : 0,
          }, phase.loss),
          map(({ batch, stats }) => {
            const metrics = iterationMetrics(batch, stats, phase, lr, (clock() - start) / 1000);
            state.klCoef = nextKlCoef(options.kl, state.klCoef, metrics.kl, batch.tokens.length);
            return { ...metrics, iteration: iteration + offset };
          }),
          concatMap(async (metrics) => {
            await run.afterIteration?.(metrics);
            return metrics;
          }),
        );
      })
    ),
  );
}

function mean(xs: number[]): number {
  return xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length;
}

function iterationMetrics(
  batch: Trajectories,
  stats: UpdateStats,
  phase: Phase,
  lr: number,
  seconds: number,
): IterationMetrics {
  const rewards = batch.taskRewards;
  const rewardMean = mean(rewards);
  const rolloutOnly = rewards.filter((_, i) => batch.switchPoints[i] === 0);
  const tokens = batch.tokens.reduce((n, row) => n + row.length, 0);
  return {
    iteration: batch.iteration,
    phase: phase.name,
    reward_mean: rewardMean,
    reward_std: Math.sqrt(mean(rewards.map((r) => (r - rewardMean) ** 2))),
    reward_rollout_only: rolloutOnly.length === 0 ? null : mean(rolloutOnly),
    kl: mean(batch.kl),
    kl_coef: batch.klCoef,
    kl_penalty: mean(batch.klRewards.map((row) => row.reduce((sum, r) => sum + r, 0))),
    response_length: mean(batch.tokens.map((row) => row.length)),
    response_length_max: batch.tokens.reduce((n, row) => Math.max(n, row.length), 0),
    loss_policy: stats.policyLoss,
    loss_value: stats.valueLoss,
    loss_nll: stats.nllLoss,
    entropy: stats.entropy,
    approx_kl: stats.approxKl,
    clip_fraction: stats.clipFraction,
    grad_norm: stats.gradNorm,
    updates: stats.steps,
    lr,
    trajectories: batch.tokens.length,
    tokens,
    tokens_per_s: seconds > 0 ? tokens / seconds : 0,
    seconds,
  };
}

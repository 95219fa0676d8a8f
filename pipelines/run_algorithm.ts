/**
 * One entry point for the CLI: an algorithm by name, BC+X included.
 * @module
 */
/** @ignore rxjs documents its own types; we reference them, not re-export them. */
import { concat, defer, type Observable } from "rxjs";
import { AdamW } from "../stages/adamw.ts";
import type { CriticName } from "../stages/types.ts";
import { aggrevatedPhase } from "./aggrevated.ts";
import { bc, type BcMetrics } from "./bc.ts";
import { d2lolsChooser } from "./d2lols.ts";
import { drpoPhase } from "./drpo.ts";
import { grpoPhase } from "./grpo.ts";
import { grpoPlusPlusPhase } from "./grpo_pp.ts";
import {
  type IterationMetrics,
  type Phase,
  type PhaseChooser,
  phaseNeeds,
  runIterations,
  type RunOptions,
} from "./iteration.ts";
import { lolsChooser } from "./lols.ts";
import { TRAIN_DEFAULTS, type TrainOptions } from "./options.ts";
import { PPO_PHASE } from "./ppo.ts";
import { ppoPlusPlusPhase } from "./ppo_pp.ts";
import { rebelPhase } from "./rebel.ts";
import { rlooPhase } from "./rloo.ts";
import type { AlgorithmState } from "./state.ts";

/** An RL algorithm: every phase it may run, and the phase of each iteration. */
export interface Algorithm {
  /** The phases `choose` picks from (what the algorithm needs is derived from them). */
  phases: readonly Phase[];
  /** The phase of an iteration. */
  choose: PhaseChooser;
}

/** An algorithm that runs one phase in every iteration. */
function always(phase: Phase): Algorithm {
  return { phases: [phase], choose: () => phase };
}

/** The RL algorithms by name, each built from the train options. */
export const RL_ALGORITHMS: Readonly<
  Record<
    | "ppo"
    | "ppo++"
    | "aggrevated"
    | "lols"
    | "d2lols"
    | "grpo"
    | "rloo"
    | "rebel"
    | "drpo"
    | "grpo++",
    (options: TrainOptions) => Algorithm
  >
> = Object.freeze({
  "ppo": () => always(PPO_PHASE),
  "ppo++": (o: TrainOptions) => always(ppoPlusPlusPhase(o.ppoPlusPlus.beta)),
  "aggrevated": (o: TrainOptions) => always(aggrevatedPhase(o.aggrevated.beta, "learner")),
  "lols": (o: TrainOptions) => ({
    phases: [ppoPlusPlusPhase(o.ppoPlusPlus.beta), aggrevatedPhase(o.aggrevated.beta, "guide")],
    choose: lolsChooser(o),
  }),
  "d2lols": (o: TrainOptions) => ({
    phases: [ppoPlusPlusPhase(o.ppoPlusPlus.beta), aggrevatedPhase(o.aggrevated.beta, "guide")],
    choose: d2lolsChooser(o),
  }),
  "grpo": (o: TrainOptions) => always(grpoPhase(o)),
  "rloo": (o: TrainOptions) => always(rlooPhase(o)),
  "rebel": (o: TrainOptions) => always(rebelPhase(o)),
  "drpo": (o: TrainOptions) => always(drpoPhase(o.drpo.beta)),
  "grpo++": (o: TrainOptions) => always(grpoPlusPlusPhase(o)),
});

/** An RL algorithm's name. */
export type RlAlgorithmName = keyof typeof RL_ALGORITHMS;

/** Every name {@linkcode runAlgorithm} accepts: an RL algorithm, "bc", or "bc+" one. */
export type AlgorithmName = RlAlgorithmName | "bc" | `bc+${RlAlgorithmName}`;

/** Metrics of an RL iteration or a BC step. */
export type AlgorithmMetrics = IterationMetrics | BcMetrics;

/**
 * What an algorithm needs beyond the learner, derived from its phases: a guide, the
 * critics (none for the critic-free ones), and reference continuations in the data.
 * @param algorithm the algorithm
 * @returns the needs
 */
export function algorithmNeeds(
  algorithm: Algorithm,
): { guide: boolean; critics: CriticName[]; references: boolean } {
  const needs = algorithm.phases.map(phaseNeeds);
  return {
    guide: needs.some((n) => n.guide),
    critics: [...new Set(needs.flatMap((n) => n.critic === null ? [] : [n.critic]))],
    references: algorithm.phases.some((p) => p.rollIn === "dataset"),
  };
}

/**
 * Splits an algorithm name into its BC flag and RL algorithm ("bc+grpo" → BC, then GRPO).
 * @param name the name
 * @returns the BC flag and the RL algorithm (null for plain BC)
 */
export function parseAlgorithm(name: string): { bc: boolean; rl: RlAlgorithmName | null } {
  const withBc = name === "bc" || name.startsWith("bc+");
  const rl = name === "bc" ? null : withBc ? name.slice(3) : name;
  if (rl !== null && !(rl in RL_ALGORITHMS)) {
    throw new RangeError(
      `Unknown algorithm "${name}"; expected one of ${
        [...Object.keys(RL_ALGORITHMS), "bc", "bc+<algorithm>"].join(", ")
      }`,
    );
  }
  return { bc: withBc, rl: rl as RlAlgorithmName | null };
}

/**
 * Checks an algorithm name and that the state has what it needs.
 *
 * @param name the algorithm
 * @param state the state
 * @param options train options (the phases' settings) @default TRAIN_DEFAULTS
 * @returns the BC flag and the RL algorithm (null for plain BC)
 */
export function checkAlgorithm(
  name: string,
  state: AlgorithmState,
  options: TrainOptions = TRAIN_DEFAULTS,
): { bc: boolean; rl: RlAlgorithmName | null } {
  const plan = parseAlgorithm(name);
  if (plan.rl === null) return plan;
  const rl = plan.rl;
  const needs = algorithmNeeds(RL_ALGORITHMS[rl](options));
  if (needs.guide && !state.guide) throw new RangeError(`Algorithm "${rl}" needs a guide`);
  for (const critic of needs.critics) {
    if (!state.critics[critic]) {
      throw new RangeError(
        critic === "learner"
          ? `Algorithm "${rl}" needs the learner critic`
          : `Algorithm "${rl}" needs a separate guide critic (critics.guide)`,
      );
    }
  }
  if (needs.references && !state.records.some((r) => r.references.length > 0)) {
    throw new RangeError(
      `Algorithm "${rl}" restarts inside the dataset's reference continuations, but no ` +
        `training record has one`,
    );
  }
  return plan;
}

/**
 * Runs an algorithm by name. "bc+X" runs BC, then X from the BC weights: the
 * reference becomes a copy of the BC weights (when there is one) and the learner's
 * optimizer restarts; X's iterations are numbered after BC's (and `run.startIteration`
 * counts in that numbering, so a resumed run may skip BC).
 *
 * @param name an RL algorithm ({@linkcode RL_ALGORITHMS}), "bc" or "bc+<one of them>"
 * @param state the state (mutated)
 * @param options train options
 * @param run clock
 * @returns per-iteration metrics; nothing runs until subscribed
 */
export function runAlgorithm(
  name: AlgorithmName | string,
  state: AlgorithmState,
  options: TrainOptions,
  run: RunOptions = {},
): Observable<AlgorithmMetrics> {
  const plan = checkAlgorithm(name, state, options);
  const algorithm = plan.rl === null ? null : RL_ALGORITHMS[plan.rl](options);
  const rl = algorithm === null
    ? null
    : (runOptions: RunOptions) => runIterations(state, options, algorithm.choose, runOptions);
  if (!plan.bc) return rl!(run);
  if (rl === null) return bc(state, options, run);
  // run.startIteration is in reported numbering (BC's iterations first, then X's); a run
  // resumed inside X has its state restored already, so BC and the hand-over are skipped.
  const bcIterations = options.bc.iterations;
  const rest = () => rl({ ...run, iterationOffset: bcIterations });
  if ((run.startIteration ?? 0) >= bcIterations) return rest();
  return concat(
    bc(state, options, run),
    defer(() => {
      if (state.reference) {
        state.reference.dispose();
        state.reference = state.learner.clone();
      }
      const old = state.optimizers.learner;
      state.optimizers.learner = new AdamW(old.variables, {
        learningRate: options.learningRate,
        weightDecay: options.weightDecay,
      });
      old.dispose();
      return rest();
    }),
  );
}

/**
 * One entry point for the CLI: an algorithm by name, BC+X included.
 * @module
 */
/** @ignore rxjs documents its own types; we reference them, not re-export them. */
import { concat, defer, type Observable } from "rxjs";
import { AdamW } from "../stages/adamw.ts";
import { aggrevated } from "./aggrevated.ts";
import { bc, type BcMetrics } from "./bc.ts";
import { d2lols } from "./d2lols.ts";
import type { IterationMetrics, RunOptions } from "./iteration.ts";
import { lols } from "./lols.ts";
import type { TrainOptions } from "./options.ts";
import { ppo } from "./ppo.ts";
import { ppoPlusPlus } from "./ppo_pp.ts";
import type { AlgorithmState } from "./state.ts";

/** The RL algorithms by name. */
export const RL_ALGORITHMS: Readonly<{
  "ppo": typeof ppo;
  "ppo++": typeof ppoPlusPlus;
  "aggrevated": typeof aggrevated;
  "lols": typeof lols;
  "d2lols": typeof d2lols;
}> = Object.freeze({
  "ppo": ppo,
  "ppo++": ppoPlusPlus,
  "aggrevated": aggrevated,
  "lols": lols,
  "d2lols": d2lols,
});

/** An RL algorithm's name. */
export type RlAlgorithmName = keyof typeof RL_ALGORITHMS;

/** Every name {@linkcode runAlgorithm} accepts: an RL algorithm, "bc", or "bc+" one. */
export type AlgorithmName = RlAlgorithmName | "bc" | `bc+${RlAlgorithmName}`;

/** Metrics of an RL iteration or a BC step. */
export type AlgorithmMetrics = IterationMetrics | BcMetrics;

/** What each algorithm needs beyond the learner and its critic. */
const NEEDS: Record<RlAlgorithmName, { guide: boolean; guideCritic: boolean }> = {
  "ppo": { guide: false, guideCritic: false },
  "ppo++": { guide: true, guideCritic: false },
  "aggrevated": { guide: true, guideCritic: false },
  "lols": { guide: true, guideCritic: true },
  "d2lols": { guide: true, guideCritic: true },
};

/**
 * Checks an algorithm name and that the state has what it needs.
 *
 * @param name the algorithm
 * @param state the state
 * @returns the BC flag and the RL algorithm (null for plain BC)
 */
export function checkAlgorithm(
  name: string,
  state: AlgorithmState,
): { bc: boolean; rl: RlAlgorithmName | null } {
  const withBc = name === "bc" || name.startsWith("bc+");
  const rl = name === "bc" ? null : withBc ? name.slice(3) : name;
  if (rl !== null && !(rl in RL_ALGORITHMS)) {
    throw new RangeError(
      `Unknown algorithm "${name}"; expected one of ${
        [...Object.keys(RL_ALGORITHMS), "bc", "bc+<algorithm>"].join(", ")
      }`,
    );
  }
  if (rl !== null) {
    const needs = NEEDS[rl as RlAlgorithmName];
    if (needs.guide && !state.guide) throw new RangeError(`Algorithm "${rl}" needs a guide`);
    if (!state.critics.learner) throw new RangeError(`Algorithm "${rl}" needs the learner critic`);
    if (needs.guideCritic && !state.critics.guide) {
      throw new RangeError(`Algorithm "${rl}" needs a separate guide critic (critics.guide)`);
    }
  }
  return { bc: withBc, rl: rl as RlAlgorithmName | null };
}

/**
 * Runs an algorithm by name. "bc+X" runs BC, then X from the BC weights: the
 * reference becomes a copy of the BC weights (when there is one) and the learner's
 * optimizer restarts; X's iterations are numbered after BC's (and `run.startIteration`
 * counts in that numbering, so a resumed run may skip BC).
 *
 * @param name "ppo", "ppo++", "aggrevated", "lols", "d2lols", "bc" or "bc+<one of them>"
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
  const plan = checkAlgorithm(name, state);
  const rl = plan.rl === null ? null : RL_ALGORITHMS[plan.rl];
  if (!plan.bc) return rl!(state, options, run);
  if (rl === null) return bc(state, options, run);
  // run.startIteration is in reported numbering (BC's iterations first, then X's); a run
  // resumed inside X has its state restored already, so BC and the hand-over are skipped.
  const bcIterations = options.bc.iterations;
  const rest = () => rl(state, options, { ...run, iterationOffset: bcIterations });
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

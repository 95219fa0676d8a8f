/**
 * D2LOLS: AggreVaTeD (with the guide critic) while iteration < I, then PPO++ (with
 * the learner critic) for the rest.
 * @module
 */
/** @ignore rxjs documents its own types; we reference them, not re-export them. */
import type { Observable } from "rxjs";
import type { TrainOptions } from "./options.ts";
import type { AlgorithmState } from "./state.ts";
import { aggrevatedPhase } from "./aggrevated.ts";
import {
  type IterationMetrics,
  type PhaseChooser,
  runIterations,
  type RunOptions,
} from "./iteration.ts";
import { ppoPlusPlusPhase } from "./ppo_pp.ts";

/**
 * The switch iteration I: `d2lols.switchIteration` when set (>= 0), else
 * round(`d2lols.switchFraction` · iterations) (paper: 20 of 100).
 *
 * @param options train options
 * @returns I
 */
export function d2lolsSwitchIteration(options: TrainOptions): number {
  const { switchIteration, switchFraction } = options.d2lols;
  return switchIteration >= 0 ? switchIteration : Math.round(switchFraction * options.iterations);
}

/**
 * D2LOLS's chooser: AggreVaTeD before I, PPO++ from I on.
 *
 * @param options train options
 * @returns the chooser
 */
export function d2lolsChooser(options: TrainOptions): PhaseChooser {
  const switchAt = d2lolsSwitchIteration(options);
  const ppoPlusPlus = ppoPlusPlusPhase(options.ppoPlusPlus.beta);
  const aggrevated = aggrevatedPhase(options.aggrevated.beta, "guide");
  return (iteration) => iteration < switchAt ? aggrevated : ppoPlusPlus;
}

/**
 * Runs D2LOLS (needs `state.guide` and both critics).
 *
 * @param state learner, guide, reference, learner and guide critics, data and reward
 * @param options train options (`d2lols`, `ppoPlusPlus.beta`, `aggrevated.beta`)
 * @param run clock and iteration offset
 * @returns per-iteration metrics
 */
export function d2lols(
  state: AlgorithmState,
  options: TrainOptions,
  run?: RunOptions,
): Observable<IterationMetrics> {
  return runIterations(state, options, d2lolsChooser(options), run);
}

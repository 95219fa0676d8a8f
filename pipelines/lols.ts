/**
 * LOLS: each iteration flips a coin: with probability p a PPO++ iteration (learner
 * critic), else an AggreVaTeD iteration (the separate guide critic).
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
 * LOLS's chooser. The coin of iteration i comes from the child stream `iteration-i`,
 * so it depends only on the seed and i (a resumed run flips the same coins).
 *
 * @param options `lols.p` and both phases' β
 * @returns the chooser
 */
export function lolsChooser(options: TrainOptions): PhaseChooser {
  const ppoPlusPlus = ppoPlusPlusPhase(options.ppoPlusPlus.beta);
  const aggrevated = aggrevatedPhase(options.aggrevated.beta, "guide");
  return (iteration, rng) =>
    rng.child(`iteration-${iteration}`).random() < options.lols.p ? ppoPlusPlus : aggrevated;
}

/**
 * Runs LOLS (needs `state.guide` and both critics).
 *
 * @param state learner, guide, reference, learner and guide critics, data and reward
 * @param options train options (`lols.p`, `ppoPlusPlus.beta`, `aggrevated.beta`)
 * @param run clock and iteration offset
 * @returns per-iteration metrics
 */
export function lols(
  state: AlgorithmState,
  options: TrainOptions,
  run?: RunOptions,
): Observable<IterationMetrics> {
  return runIterations(state, options, lolsChooser(options), run);
}

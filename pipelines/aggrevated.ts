/**
 * AggreVaTeD: with probability β the learner writes a prefix of length k and the
 * guide completes it. The learner's prefix t < k gets the policy gradient; the
 * guide's suffix t >= k trains a critic of the guide's value. Rows with k = 0 were
 * written wholly by the guide: value data only.
 * @module
 */
/** @ignore rxjs documents its own types; we reference them, not re-export them. */
import type { Observable } from "rxjs";
import type { CriticName } from "../stages/types.ts";
import type { TrainOptions } from "./options.ts";
import type { AlgorithmState } from "./state.ts";
import { type IterationMetrics, type Phase, runIterations, type RunOptions } from "./iteration.ts";

/**
 * AggreVaTeD's phase.
 *
 * @param beta the probability of a learner roll-in prefix (paper 0.8)
 * @param critic "learner" when AggreVaTeD runs alone, "guide" inside LOLS and D2LOLS
 * @returns learner roll-in, guide roll-out, policy mask t < k, value mask t >= k
 */
export function aggrevatedPhase(beta: number, critic: CriticName): Phase {
  return {
    name: "aggrevated",
    rollIn: "learner",
    rollOut: "guide",
    beta,
    policyMask: "prefix",
    valueMask: "suffix",
    critic,
  };
}

/**
 * Runs AggreVaTeD alone, with the learner's critic estimating the guide's value.
 *
 * @param state learner, guide, reference, learner critic, data and reward
 * @param options train options (`aggrevated.beta`)
 * @param run clock and iteration offset
 * @returns per-iteration metrics
 */
export function aggrevated(
  state: AlgorithmState,
  options: TrainOptions,
  run?: RunOptions,
): Observable<IterationMetrics> {
  const phase = aggrevatedPhase(options.aggrevated.beta, "learner");
  return runIterations(state, options, () => phase, run);
}

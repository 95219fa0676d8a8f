/**
 * PPO++: with probability β the guide writes a prefix of length k; the learner
 * completes it and learns (policy and value) on its own suffix t >= k.
 * @module
 */
/** @ignore rxjs documents its own types; we reference them, not re-export them. */
import type { Observable } from "rxjs";
import type { TrainOptions } from "./options.ts";
import type { AlgorithmState } from "./state.ts";
import { type IterationMetrics, type Phase, runIterations, type RunOptions } from "./iteration.ts";

/**
 * PPO++'s phase.
 *
 * @param beta the probability of a guide roll-in prefix (paper 0.2, tril 0.6)
 * @returns guide roll-in, learner roll-out, masks t >= k, learner critic
 */
export function ppoPlusPlusPhase(beta: number): Phase {
  return {
    name: "ppo++",
    rollIn: "guide",
    rollOut: "learner",
    beta,
    policyMask: "suffix",
    valueMask: "suffix",
    critic: "learner",
  };
}

/**
 * Runs PPO++ (needs `state.guide`).
 *
 * @param state learner, guide, reference, learner critic, data and reward
 * @param options train options (`ppoPlusPlus.beta`)
 * @param run clock and iteration offset
 * @returns per-iteration metrics
 */
export function ppoPlusPlus(
  state: AlgorithmState,
  options: TrainOptions,
  run?: RunOptions,
): Observable<IterationMetrics> {
  const phase = ppoPlusPlusPhase(options.ppoPlusPlus.beta);
  return runIterations(state, options, () => phase, run);
}

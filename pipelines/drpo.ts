/**
 * DR-PO (Chang et al., 2024, "Dataset Reset Policy Optimization for RLHF"): PPO++ with the
 * dataset as the guide. With probability β the roll-in is the record's reference
 * continuation; the learner restarts at a random point of it, rolls out, and learns
 * (policy and value) on its own tokens.
 * @module
 */
/** @ignore rxjs documents its own types; we reference them, not re-export them. */
import type { Observable } from "rxjs";
import type { TrainOptions } from "./options.ts";
import type { AlgorithmState } from "./state.ts";
import { type IterationMetrics, type Phase, runIterations, type RunOptions } from "./iteration.ts";

/**
 * DR-PO's phase.
 *
 * @param beta the probability of restarting inside the reference (`drpo.beta`)
 * @returns dataset roll-in, learner roll-out, masks t >= k, learner critic
 */
export function drpoPhase(beta: number): Phase {
  return {
    name: "drpo",
    rollIn: "dataset",
    rollOut: "learner",
    beta,
    policyMask: "suffix",
    valueMask: "suffix",
    critic: "learner",
  };
}

/**
 * Runs DR-PO (the records need references).
 *
 * @param state learner, reference, learner critic, data with references and reward
 * @param options train options (`drpo.beta`)
 * @param run clock and iteration offset
 * @returns per-iteration metrics
 */
export function drpo(
  state: AlgorithmState,
  options: TrainOptions,
  run?: RunOptions,
): Observable<IterationMetrics> {
  const phase = drpoPhase(options.drpo.beta);
  return runIterations(state, options, () => phase, run);
}

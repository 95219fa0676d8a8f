/**
 * PPO: the learner samples whole trajectories from the prompt and learns on every token.
 * @module
 */
/** @ignore rxjs documents its own types; we reference them, not re-export them. */
import type { Observable } from "rxjs";
import type { TrainOptions } from "./options.ts";
import type { AlgorithmState } from "./state.ts";
import { type IterationMetrics, type Phase, runIterations, type RunOptions } from "./iteration.ts";

/** PPO's phase: no roll-in (k = 0), learner roll-out, all tokens in both losses, learner critic. */
export const PPO_PHASE: Readonly<Phase> = Object.freeze({
  name: "ppo",
  rollIn: null,
  rollOut: "learner",
  beta: 0,
  policyMask: "all",
  valueMask: "all",
  critic: "learner",
});

/**
 * Runs PPO.
 *
 * @param state learner, reference, learner critic, data and reward
 * @param options train options
 * @param run clock and iteration offset
 * @returns per-iteration metrics
 */
export function ppo(
  state: AlgorithmState,
  options: TrainOptions,
  run?: RunOptions,
): Observable<IterationMetrics> {
  return runIterations(state, options, () => PPO_PHASE, run);
}

/**
 * RLOO (Ahmadian et al., 2024, "Back to Basics"): G samples per prompt, no critic; each
 * sample's baseline is the mean reward of the other G − 1 (leave-one-out).
 * @module
 */
/** @ignore rxjs documents its own types; we reference them, not re-export them. */
import type { Observable } from "rxjs";
import { groupCollect, LEARNER_ONLY } from "./grpo.ts";
import type { TrainOptions } from "./options.ts";
import type { AlgorithmState } from "./state.ts";
import { type IterationMetrics, type Phase, runIterations, type RunOptions } from "./iteration.ts";

/**
 * RLOO's phase: GRPO's, with the leave-one-out baseline and unscaled advantages.
 *
 * @param options `group` (size, where the KL goes)
 * @returns the phase
 */
export function rlooPhase(options: TrainOptions): Phase {
  return {
    ...LEARNER_ONLY,
    name: "rloo",
    kl: options.group.kl,
    collect: groupCollect("leave-one-out"),
  };
}

/**
 * Runs RLOO.
 *
 * @param state learner, reference, data and reward (no critic)
 * @param options train options (`group`)
 * @param run clock and iteration offset
 * @returns per-iteration metrics
 */
export function rloo(
  state: AlgorithmState,
  options: TrainOptions,
  run?: RunOptions,
): Observable<IterationMetrics> {
  const phase = rlooPhase(options);
  return runIterations(state, options, () => phase, run);
}

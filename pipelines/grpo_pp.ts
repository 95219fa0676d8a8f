/**
 * GRPO++ (guided groups, ours): each group's G samples share one guide roll-in prefix —
 * with probability β the guide writes it and a switch point k is drawn as in PPO++ — the
 * learner rolls out G times from it, and advantages are group-relative on the learner's
 * tokens. No critic: the group is the baseline, and the shared prefix makes the group's
 * samples comparable.
 * @module
 */
/** @ignore rxjs documents its own types; we reference them, not re-export them. */
import type { Observable } from "rxjs";
import { groupCollect } from "./grpo.ts";
import type { TrainOptions } from "./options.ts";
import type { AlgorithmState } from "./state.ts";
import { type IterationMetrics, type Phase, runIterations, type RunOptions } from "./iteration.ts";

/**
 * GRPO++'s phase.
 *
 * @param options `ppoPlusPlus.beta` (the guide prefix's probability) and `group`
 * @returns guide roll-in shared per group, learner roll-out, mask t >= k, no critic
 */
export function grpoPlusPlusPhase(options: TrainOptions): Phase {
  return {
    name: "grpo++",
    rollIn: "guide",
    rollOut: "learner",
    beta: options.ppoPlusPlus.beta,
    policyMask: "suffix",
    valueMask: "none",
    critic: null,
    kl: options.group.kl,
    collect: groupCollect("group-mean", true),
  };
}

/**
 * Runs GRPO++ (needs `state.guide`).
 *
 * @param state learner, guide, reference, data and reward (no critic)
 * @param options train options (`ppoPlusPlus.beta`, `group`)
 * @param run clock and iteration offset
 * @returns per-iteration metrics
 */
export function grpoPlusPlus(
  state: AlgorithmState,
  options: TrainOptions,
  run?: RunOptions,
): Observable<IterationMetrics> {
  const phase = grpoPlusPlusPhase(options);
  return runIterations(state, options, () => phase, run);
}

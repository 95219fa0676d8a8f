/**
 * GRPO (Shao et al., 2024, DeepSeekMath): G samples per prompt, no critic; each sample's
 * advantage is its reward minus its group's mean, divided by the group's std (Dr. GRPO,
 * Liu et al., 2025: not divided). The KL to the reference is in the reward (ours) or in
 * the loss (GRPO's), by `group.kl`.
 * @module
 */
/** @ignore rxjs documents its own types; we reference them, not re-export them. */
import { type Observable, pipe } from "rxjs";
import { groupAdvantages, groupPrompts } from "../stages/groups.ts";
import type { TrainOptions } from "./options.ts";
import type { AlgorithmState } from "./state.ts";
import {
  type CollectStages,
  type IterationMetrics,
  type Phase,
  runIterations,
  type RunOptions,
  sampleTrajectories,
  scoreTrajectories,
} from "./iteration.ts";

/**
 * Group-relative collect stages: prompts in groups of `group.size` → sample → score →
 * advantages from the group's rewards (scaled by `group.scale`, unscaled for RLOO).
 *
 * @param baseline the group's mean (GRPO) or the other samples' mean (RLOO)
 * @param shareGroupRollIns whether each group restarts from one guide prefix (GRPO++)
 * @returns the stages
 */
export function groupCollect(
  baseline: "group-mean" | "leave-one-out",
  shareGroupRollIns = false,
): CollectStages {
  return (state, phase, options) =>
    pipe(
      groupPrompts(options.group.size),
      sampleTrajectories(state, phase, options, { shareGroupRollIns }),
      scoreTrajectories(state, phase, options),
      groupAdvantages({
        baseline,
        scale: baseline === "leave-one-out" ? "none" : options.group.scale,
      }),
    );
}

/**
 * What the critic-free algorithms without a guide share: the learner samples whole
 * trajectories from the prompt, every token learns, no critic, no value loss.
 */
export const LEARNER_ONLY: Readonly<
  Pick<Phase, "rollIn" | "rollOut" | "beta" | "policyMask" | "valueMask" | "critic">
> = Object.freeze({
  rollIn: null,
  rollOut: "learner",
  beta: 0,
  policyMask: "all",
  valueMask: "none",
  critic: null,
});

/**
 * GRPO's phase: the learner samples whole trajectories, all tokens learn, no critic.
 *
 * @param options `group` (size, scale, where the KL goes)
 * @returns the phase
 */
export function grpoPhase(options: TrainOptions): Phase {
  return {
    ...LEARNER_ONLY,
    name: "grpo",
    kl: options.group.kl,
    collect: groupCollect("group-mean"),
  };
}

/**
 * Runs GRPO.
 *
 * @param state learner, reference, data and reward (no critic)
 * @param options train options (`group`)
 * @param run clock and iteration offset
 * @returns per-iteration metrics
 */
export function grpo(
  state: AlgorithmState,
  options: TrainOptions,
  run?: RunOptions,
): Observable<IterationMetrics> {
  const phase = grpoPhase(options);
  return runIterations(state, options, () => phase, run);
}

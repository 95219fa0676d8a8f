/**
 * REBEL (Gao et al., 2024): two samples per prompt; regress the difference of their
 * log-ratios (learner vs the policy that sampled them) onto η × their reward difference.
 * No critic, no clipping; the KL to the reference is in the reward, as in the paper.
 * @module
 */
/** @ignore rxjs documents its own types; we reference them, not re-export them. */
import { map, type Observable, pipe } from "rxjs";
import { groupPrompts } from "../stages/groups.ts";
import { LEARNER_ONLY } from "./grpo.ts";
import { rebelLoss } from "../stages/rebel_loss.ts";
import type { TrainOptions } from "./options.ts";
import type { AlgorithmState } from "./state.ts";
import {
  type IterationMetrics,
  type Phase,
  runIterations,
  type RunOptions,
  sampleTrajectories,
  scoreTrajectories,
} from "./iteration.ts";

/**
 * REBEL's phase: pairs of learner samples per prompt, all tokens learn, its own loss.
 *
 * @param options `rebel.eta`
 * @returns the phase
 */
export function rebelPhase(options: TrainOptions): Phase {
  return {
    ...LEARNER_ONLY,
    name: "rebel",
    collect: (state, phase, opts) =>
      pipe(
        groupPrompts(2),
        sampleTrajectories(state, phase, opts),
        scoreTrajectories(state, phase, opts),
        // the loss reads rewards alone: no advantages, no values
        map((batch) => ({
          ...batch,
          critic: null,
          values: batch.rewards.map((row) => row.map(() => 0)),
          advantages: batch.rewards.map((row) => row.map(() => 0)),
          returns: batch.rewards.map((row) => row.map(() => 0)),
        })),
      ),
    loss: rebelLoss(options.rebel.eta),
  };
}

/**
 * Runs REBEL.
 *
 * @param state learner, reference, data and reward (no critic)
 * @param options train options (`rebel.eta`)
 * @param run clock and iteration offset
 * @returns per-iteration metrics
 */
export function rebel(
  state: AlgorithmState,
  options: TrainOptions,
  run?: RunOptions,
): Observable<IterationMetrics> {
  const phase = rebelPhase(options);
  return runIterations(state, options, () => phase, run);
}

/**
 * The task reward R(x, y) of each finished trajectory.
 * @module
 */
/** @ignore rxjs documents its own types; we reference them, not re-export them. */
import { concatMap, type OperatorFunction } from "rxjs";
import type { RewardFunction } from "../rewards/types.ts";
import type { PromptBatch, RewardFields, RollOutFields } from "./types.ts";

/**
 * Scores each row's decoded generation with a task reward function.
 * Informally: rolled-out batch → the same batch with `taskRewards`.
 *
 * @param reward the task's reward: one finite number per row
 * @returns the operator; it errors when the reward returns the wrong count or a
 *   non-finite value (one line naming the prompt's record id, the value and the row)
 */
export function taskReward<T extends PromptBatch & RollOutFields>(
  reward: RewardFunction,
): OperatorFunction<T, T & RewardFields> {
  return concatMap(async (batch) => {
    const scores = await reward({
      prompts: batch.prompts,
      generations: batch.generations,
      references: batch.references,
    });
    if (!Array.isArray(scores) || scores.length !== batch.prompts.length) {
      throw new RangeError(
        `Reward function must return ${batch.prompts.length} scores, got ${
          Array.isArray(scores) ? scores.length : typeof scores
        }`,
      );
    }
    scores.forEach((score, i) => {
      if (typeof score !== "number" || !Number.isFinite(score)) {
        const text = batch.generations[i];
        const shown = text.length > 60 ? `${text.slice(0, 60)}…` : text;
        throw new RangeError(
          `Reward function returned ${score} for prompt "${batch.recordIds[i]}" (row ${i}, ` +
            `generation ${JSON.stringify(shown)}); expected a finite number`,
        );
      }
    });
    return { ...batch, taskRewards: scores.slice() };
  });
}

/**
 * Per-token log-probs of the trajectories under the learner and the reference.
 * @module
 */
/** @ignore rxjs documents its own types; we reference them, not re-export them. */
import { concatMap, type OperatorFunction } from "rxjs";
import type { PolicyLM } from "../models/types.ts";
import type { LogProbFields, PromptBatch, RollOutFields } from "./types.ts";

/** Options of {@linkcode logProbs}. */
export interface LogProbsOptions {
  /** The learner π_θ (its log-probs are PPO's "old" log-probs). */
  learner: PolicyLM;
  /** The frozen reference π_ref; null when the KL reward is off (refLogProbs = logProbs). */
  reference: PolicyLM | null;
}

/**
 * Scores every generated token under the learner and the reference, with the full
 * (unwarped) softmax, whoever produced the token.
 * Informally: rolled-out batch → the same batch with `logProbs` and `refLogProbs`.
 *
 * @param options the two models
 * @returns the operator
 */
export function logProbs<T extends PromptBatch & RollOutFields>(
  options: LogProbsOptions,
): OperatorFunction<T, T & LogProbFields> {
  return concatMap(async (batch) => {
    const learner = checkShape(
      await options.learner.continuationLogProbs(batch.promptIds, batch.tokens),
      batch.tokens,
      "learner",
    );
    const reference = options.reference === null ? learner.map((row) => row.slice()) : checkShape(
      await options.reference.continuationLogProbs(batch.promptIds, batch.tokens),
      batch.tokens,
      "reference",
    );
    return { ...batch, logProbs: learner, refLogProbs: reference };
  });
}

function checkShape(values: number[][], tokens: number[][], who: string): number[][] {
  tokens.forEach((row, i) => {
    if (values[i]?.length !== row.length) {
      throw new RangeError(
        `The ${who} returned ${values[i]?.length} log-probs for row ${i} of ${row.length} tokens`,
      );
    }
  });
  return values;
}

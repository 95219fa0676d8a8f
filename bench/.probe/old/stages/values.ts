/**
 * The critic's values V(s_t) along each trajectory.
 * @module
 */
/** @ignore rxjs documents its own types; we reference them, not re-export them. */
import { concatMap, type OperatorFunction } from "rxjs";
import type { ValueModel } from "../models/types.ts";
import type { CriticName, PromptBatch, RollOutFields, ValueFields } from "./types.ts";

/** Options of {@linkcode values}. */
export interface ValuesOptions {
  /** The critic. */
  critic: ValueModel;
  /** Its name, recorded so the learner trains the same critic. */
  name: CriticName;
}

/**
 * Reads V(s_t) for every generated token from the chosen critic.
 * Informally: rolled-out batch → the same batch with `values` and `critic`.
 *
 * @param options the critic and its name
 * @returns the operator
 */
export function values<T extends PromptBatch & RollOutFields>(
  options: ValuesOptions,
): OperatorFunction<T, T & ValueFields> {
  return concatMap(async (batch) => {
    const estimates = await options.critic.values(batch.promptIds, batch.tokens);
    batch.tokens.forEach((row, i) => {
      if (estimates[i]?.length !== row.length) {
        throw new RangeError(
          `The ${options.name} critic returned ${
            estimates[i]?.length
          } values for row ${i} of ${row.length} tokens`,
        );
      }
    });
    return { ...batch, critic: options.name, values: estimates };
  });
}

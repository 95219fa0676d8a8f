/**
 * Roll-in: the roll-in policy's full continuation of each prompt.
 * @module
 */
/** @ignore rxjs documents its own types; we reference them, not re-export them. */
import { concatMap, map, type OperatorFunction } from "rxjs";
import type { Rng } from "../core/prng.ts";
import type { TokenGenerator } from "../models/types.ts";
import { sampleRows } from "./_generate.ts";
import { batchRng } from "./_rng.ts";
import type {
  CoinFields,
  GenerationConfig,
  PolicyName,
  PromptBatch,
  RollInFields,
} from "./types.ts";

/** Options of {@linkcode rollIn}. */
export interface RollInOptions {
  /** The roll-in policy; null for no roll-in (PPO: every k is 0). */
  policy: TokenGenerator | null;
  /** Its name, recorded in the batch. */
  name: PolicyName | null;
  /** Decoding settings; H = `maxNewTokens`. */
  generation: GenerationConfig;
  /** Sampling stream; each batch uses its child `iteration-i/batch-j`. */
  rng: Rng;
}

/**
 * Samples a full continuation (up to H tokens) of each prompt from the roll-in policy; a batch
 * that says which rows can use one (`rollInWanted`, from {@linkcode rollInCoins}) gets them for
 * those rows alone, the others an empty roll-in (their switch point is 0).
 * Informally: prompt batch → the same batch with `rollInTokens`.
 *
 * @param options the policy, decoding settings and random stream
 * @returns the operator
 */
export function rollIn<T extends PromptBatch & Partial<CoinFields>>(
  options: RollInOptions,
): OperatorFunction<T, T & RollInFields> {
  const { policy, generation } = options;
  if (policy === null) {
    return map((batch) => ({
      ...batch,
      rollInPolicy: null,
      rollInTokens: batch.promptIds.map(() => []),
    }));
  }
  if (options.name === null) throw new TypeError("A roll-in policy needs a name");
  const name = options.name;
  return concatMap(async (batch) => {
    const wanted = (i: number) => batch.rollInWanted?.[i] ?? true;
    const rollInTokens = await sampleRows(policy, batch.promptIds, {
      max: batch.promptIds.map((_, i) => wanted(i) ? generation.maxNewTokens : 0),
      min: batch.promptIds.map((_, i) => wanted(i) ? generation.minNewTokens : 0),
    }, { ...generation, rng: batchRng(options.rng, batch) });
    return { ...batch, rollInPolicy: name, rollInTokens };
  });
}

/**
 * The dataset as the roll-in policy (DR-PO): each row's roll-in is its reference
 * continuation (`referenceIds`, already cut to the horizon), so the learner can restart
 * inside it. Rows without a reference, or whose coin (`rollInWanted`) says no, get an
 * empty roll-in (their switch point is 0). Informally: prompt batch → the same batch with
 * `rollInTokens` from the data.
 *
 * @returns the operator
 */
export function datasetRollIn<T extends PromptBatch & Partial<CoinFields>>(): OperatorFunction<
  T,
  T & RollInFields
> {
  return map((batch) => ({
    ...batch,
    rollInPolicy: "dataset",
    rollInTokens: batch.referenceIds.map((ids, i) =>
      (batch.rollInWanted?.[i] ?? true) ? ids.slice() : []
    ),
  }));
}

/**
 * Switch-point (restart) sampling: where the roll-out policy takes over.
 * @module
 */
/** @ignore rxjs documents its own types; we reference them, not re-export them. */
import { map, type OperatorFunction } from "rxjs";
import type { Rng } from "../core/prng.ts";
import { batchRng } from "./_rng.ts";
import type { CoinFields, PromptBatch, RollInFields, SwitchFields } from "./types.ts";

/**
 * Chooses a row's switch point k from its roll-in length L and a random stream.
 * Custom algorithms pass their own (e.g. a fixed fraction of the roll-in).
 */
export type SwitchPointSampler = (rollInLength: number, rng: Rng) => number;

/**
 * The spec's sampler (tril utils/logit_processors.py L74-91): with probability
 * 1 - β, k = 0; with probability β, k ~ Uniform{1, ..., L - 1}, and k = 0 if L < 2.
 *
 * @param rollInLength L, the number of real roll-in tokens
 * @param beta β, the probability of using a roll-in prefix
 * @param rng the random stream (one or two draws)
 * @returns the switch point k
 */
export function sampleSwitchPoint(rollInLength: number, beta: number, rng: Rng): number {
  if (!(beta >= 0 && beta <= 1)) throw new RangeError(`Beta must be in [0, 1], got ${beta}`);
  // The coin is always drawn, so the stream's position does not depend on L.
  const useRollIn = rng.random() < beta;
  if (!useRollIn || rollInLength < 2) return 0;
  return rng.intBetween(1, rollInLength - 1);
}

/** Options of {@linkcode rollInCoins}. */
export interface RollInCoinsOptions {
  /** β, the per-trajectory probability of a roll-in prefix. */
  beta: number;
  /** The switch points' stream (the one given to {@linkcode switchPoints}). */
  rng: Rng;
  /** A custom sampler decides k from the roll-in alone: every row is rolled in. */
  sampler?: SwitchPointSampler;
}

/**
 * The spec's β coin of each row, drawn before the roll-in: a row whose coin says k = 0 needs no
 * roll-in (PPO++ with β 0.2 would otherwise roll in every row and use a fifth of them).
 * Informally: batch → the same batch with `rollInWanted`.
 *
 * @param options β, the switch points' stream and the custom sampler, if any
 * @returns the operator
 */
export function rollInCoins<T extends PromptBatch>(
  options: RollInCoinsOptions,
): OperatorFunction<T, T & CoinFields> {
  if (!options.sampler && !(options.beta >= 0 && options.beta <= 1)) {
    throw new RangeError(`Beta must be in [0, 1], got ${options.beta}`);
  }
  return map((batch) => {
    const rng = batchRng(options.rng, batch).child("coins");
    return {
      ...batch,
      rollInWanted: batch.promptIds.map(() => options.sampler ? true : rng.random() < options.beta),
    };
  });
}

/** Options of {@linkcode switchPoints}. */
export interface SwitchPointsOptions {
  /** β, the per-trajectory probability of a roll-in prefix (ignored when `sampler` is given). */
  beta: number;
  /** The stream; each batch uses its child `iteration-i/batch-j`. */
  rng: Rng;
  /** Replaces the spec's sampler (custom algorithms). */
  sampler?: SwitchPointSampler;
}

/**
 * Draws a switch point per row from the row's roll-in length. After {@linkcode rollInCoins}
 * the spec's coin is the batch's (`rollInWanted`) and only k's position is drawn here: k = 0
 * where the coin said so or L < 2, else k ~ Uniform{1, ..., L - 1} (the distribution of
 * {@linkcode sampleSwitchPoint}).
 * Informally: batch → the same batch with `switchPoints`.
 *
 * @param options β, the random stream and an optional custom sampler
 * @returns the operator
 */
export function switchPoints<T extends PromptBatch & RollInFields & Partial<CoinFields>>(
  options: SwitchPointsOptions,
): OperatorFunction<T, T & SwitchFields> {
  const spec = (length: number, rng: Rng) => sampleSwitchPoint(length, options.beta, rng);
  if (!options.sampler && !(options.beta >= 0 && options.beta <= 1)) {
    throw new RangeError(`Beta must be in [0, 1], got ${options.beta}`);
  }
  return map((batch) => {
    const rng = batchRng(options.rng, batch);
    const coins = options.sampler ? undefined : batch.rollInWanted;
    const sampler: SwitchPointSampler = options.sampler ??
      (coins ? (length, stream) => (length < 2 ? 0 : stream.intBetween(1, length - 1)) : spec);
    const points = batch.rollInTokens.map((tokens, i) => {
      const k = batch.rollInPolicy === null || coins?.[i] === false
        ? 0
        : sampler(tokens.length, rng);
      if (!Number.isInteger(k) || k < 0 || (k > 0 && k >= tokens.length)) {
        throw new RangeError(
          `Switch point must be an integer in [0, ${Math.max(0, tokens.length - 1)}], got ${k}`,
        );
      }
      return k;
    });
    return { ...batch, switchPoints: points };
  });
}

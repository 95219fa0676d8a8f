/**
 * SPIDEr-style reward: cSPICE·SPICE + cCIDEr·CIDEr-D, or CIDEr-D alone when SPICE is off.
 * @module
 */

import { ConfigError, InputError } from "../core/errors.ts";
import { ciderD } from "./cider_d.ts";
import { spice, type SpiceOptions } from "./spice.ts";
import { tokenizeForCaptionMetrics } from "./tokenize.ts";
import type { RewardFunction, ScoringBatch } from "./types.ts";

/** Configuration of the SPIDEr reward. */
export interface SpiderOptions {
  /**
   * How SPICE is computed, or `null` / `false` to reward with CIDEr-D alone.
   * Required: leaving it out is an error, so CIDEr-only is always a stated choice.
   */
  spice: SpiceOptions | null | false;
  /** Weight of SPICE. @default 1 (tril's CommonGen config) */
  cSpice?: number;
  /** Weight of CIDEr-D. @default 1 (tril's CommonGen config) */
  cCider?: number;
  /** Tokenise generations and references with `tokenizeForCaptionMetrics` first. @default true */
  tokenize?: boolean;
}

/** Which metrics a SPIDEr score was made of. */
export type SpiderMode = "spice+cider" | "cider";

/** SPIDEr scores of a set with their parts. */
export interface SpiderScores {
  /** Which metrics were combined. */
  mode: SpiderMode;
  /** cSPICE·SPICE + cCIDEr·CIDEr-D per item (cCIDEr·CIDEr-D in "cider" mode). */
  perItem: number[];
  /** CIDEr-D per item, document frequencies over this set's references. */
  cider: number[];
  /** SPICE per item; null in "cider" mode. */
  spice: number[] | null;
}

/** A reward function that also says which metrics it combines. */
export type SpiderReward = RewardFunction & { readonly mode: SpiderMode };

function checkOptions(options: SpiderOptions): SpiderMode {
  if (!("spice" in options) || options.spice === undefined) {
    throw new ConfigError(
      "spice",
      "Expected SPICE options ({ jarPath, ... }) or null/false to use CIDEr-D alone",
    );
  }
  for (const key of ["cSpice", "cCider"] as const) {
    const v = options[key];
    if (v !== undefined && !Number.isFinite(v)) {
      throw new ConfigError(key, `Expected a finite number, got ${v}`);
    }
  }
  return options.spice ? "spice+cider" : "cider";
}

/**
 * SPIDEr of a set of candidates. CIDEr-D's document frequencies come from the
 * references of exactly this set (as tril does when it scores a batch), so
 * the same candidate can score differently in another set, and a set of one
 * item has CIDEr-D 0. Items where SPICE gives NaN (no scene-graph tuples) count
 * SPICE as 0.
 *
 * @param candidates one candidate per item
 * @param references the references of each item
 * @param options SPICE setup (or null/false) and weights
 * @returns the combined scores and their parts
 */
export async function spiderScores(
  candidates: string[],
  references: string[][],
  options: SpiderOptions,
): Promise<SpiderScores> {
  const mode = checkOptions(options);
  const tokenize = options.tokenize ?? true;
  const cands = tokenize ? candidates.map(tokenizeForCaptionMetrics) : candidates;
  const refs = tokenize ? references.map((rs) => rs.map(tokenizeForCaptionMetrics)) : references;
  const cCider = options.cCider ?? 1;
  const cider = ciderD(cands, refs).perItem;
  if (!options.spice) {
    return { mode, perItem: cider.map((c) => cCider * c), cider, spice: null };
  }
  const cSpice = options.cSpice ?? 1;
  const s = (await spice(cands, refs, options.spice)).perItem.map((v) => Number.isNaN(v) ? 0 : v);
  return { mode, perItem: cider.map((c, i) => cSpice * s[i] + cCider * c), cider, spice: s };
}

/**
 * Builds the SPIDEr reward for CommonGen: each row's generation scored
 * against that row's references, CIDEr-D statistics over the batch.
 *
 * @example CIDEr-D only, stated explicitly
 * ```ts
 * import { spiderReward } from "./spider.ts";
 * const reward = spiderReward({ spice: null });
 * const r = await reward({
 *   prompts: ["", ""],
 *   generations: ["A dog runs.", "A cat sleeps."],
 *   references: [["A dog runs."], ["A cat sleeps."]],
 * });
 * if (reward.mode !== "cider" || !(r[0] > 0)) throw new Error("unexpected reward");
 * ```
 * @param options SPICE setup (or null/false) and weights
 * @returns a reward function with its `mode`
 * @throws {ConfigError} when `spice` is not set or a weight is not finite
 */
export function spiderReward(options: SpiderOptions): SpiderReward {
  const mode = checkOptions(options);
  const reward = async (batch: ScoringBatch): Promise<number[]> => {
    const refs = batch.references;
    if (!refs || refs.length !== batch.generations.length) {
      throw new InputError(
        `Expected one reference list per generation (${batch.generations.length}), got ${
          refs?.length ?? "none"
        }`,
        "spiderReward: batch.references",
      );
    }
    return (await spiderScores(batch.generations, refs, options)).perItem;
  };
  return Object.assign(reward, { mode });
}

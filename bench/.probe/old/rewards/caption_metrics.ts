/**
 * The CommonGen evaluation metrics over a whole evaluation set, as one metric function.
 * @module
 */

import { ConfigError, InputError } from "../core/errors.ts";
import { bleu } from "./bleu.ts";
import type { BertScorer } from "./bertscore_model.ts";
import { ciderD } from "./cider_d.ts";
import { meteor } from "./meteor.ts";
import { rougeL } from "./rouge_l.ts";
import { spice, type SpiceOptions } from "./spice.ts";
import { tokenizeForCaptionMetrics } from "./tokenize.ts";
import type { MetricFunction, ScoringBatch } from "./types.ts";

/** Options of {@linkcode captionMetrics}. */
export interface CaptionMetricsOptions {
  /** How SPICE is computed, or `null` / `false` to leave SPICE and SPIDEr out (required). */
  spice: SpiceOptions | null | false;
  /** A loaded BERTScore model, or null to leave BERTScore out. @default null */
  bertScorer?: BertScorer | null;
  /** SPIDEr's weight of SPICE (as the reward). @default 1 */
  cSpice?: number;
  /** SPIDEr's weight of CIDEr-D (as the reward). @default 1 */
  cCider?: number;
}

/**
 * Builds a metric function computing, on an evaluation set tokenised with
 * `tokenizeForCaptionMetrics`: `lexical/bleu_1`..`lexical/bleu_4` (corpus),
 * `lexical/meteor`, `lexical/rouge_l`, `lexical/cider` (CIDEr-D, document
 * frequencies over the whole set), and when configured `lexical/spice`,
 * `lexical/spider` (cSPICE·SPICE + cCIDEr·CIDEr-D on the corpus values, the
 * reward's weighting) and `semantic/bertscore_precision|recall|f1` (means over
 * items, computed on the raw texts).
 *
 * @param options SPICE setup (or null/false), BERTScore model and SPIDEr weights
 * @returns a metric function over batches with references
 * @throws {ConfigError} when `spice` is not set
 */
export function captionMetrics(options: CaptionMetricsOptions): MetricFunction {
  if (!("spice" in options) || options.spice === undefined) {
    throw new ConfigError(
      "spice",
      "Expected SPICE options ({ jarPath, ... }) or null/false to leave SPICE out",
    );
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return async (batch: ScoringBatch) => {
    const refsRaw = batch.references;
    if (!refsRaw || refsRaw.length !== batch.generations.length) {
      throw new InputError(
        `Expected one reference list per generation (${batch.generations.length}), got ${
          refsRaw?.length ?? "none"
        }`,
        "captionMetrics: batch.references",
      );
    }
    const cands = batch.generations.map(tokenizeForCaptionMetrics);
    const refs = refsRaw.map((rs) => rs.map(tokenizeForCaptionMetrics));
    const out: Record<string, number> = {};
    bleu(cands, refs).corpus.forEach((v, k) => out[`lexical/bleu_${k + 1}`] = v);
    out["lexical/meteor"] = meteor(cands, refs).corpus;
    out["lexical/rouge_l"] = rougeL(cands, refs).corpus;
    out["lexical/cider"] = ciderD(cands, refs).corpus;
    if (options.spice) {
      out["lexical/spice"] = (await spice(cands, refs, options.spice)).corpus;
      out["lexical/spider"] = (options.cSpice ?? 1) * out["lexical/spice"] +
        (options.cCider ?? 1) * out["lexical/cider"];
    }
    if (options.bertScorer) {
      const b = await options.bertScorer.score(batch.generations, refsRaw);
      out["semantic/bertscore_precision"] = mean(b.precision);
      out["semantic/bertscore_recall"] = mean(b.recall);
      out["semantic/bertscore_f1"] = mean(b.f1);
    }
    return out;
  };
}

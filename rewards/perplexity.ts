/**
 * Perplexity of generated text under a fixed causal LM, following tril's
 * `causal_output_perplexity` (src/tril/metrics/model_metrics.py, `OutputPerplexity`).
 * @module
 */

import { causalContextLength, type CausalScorer, type Tokenizer } from "../models/types.ts";
import type { MetricFunction, ScoringBatch } from "./types.ts";

/** Options of the sliding-window perplexity. */
export interface PerplexityOptions {
  /** Tokens scored per window. @default 512 (tril's IMDB config), or maxLength if smaller */
  stride?: number;
  /** Longest window the model sees. @default the model's `config.nPositions` */
  maxLength?: number;
  /** Windows scored per model call. @default 4 */
  batchSize?: number;
  /** Text joining the generations into one sequence. @default "\n\n" (tril) */
  separator?: string;
}

/** The part of a causal LM perplexity needs. */
export type PerplexityModel = CausalScorer;

/**
 * Sliding-window perplexity of one token sequence, with tril's (and Hugging
 * Face's "perplexity of fixed-length models") windows: for i = 0, stride,
 * 2·stride, … the model sees tokens [max(i + stride - maxLength, 0), min(i +
 * stride, L)) and is scored on those from i on (a window's first token has no
 * prediction, so the first window scores tokens 1..); each window's mean NLL is
 * weighted by trg_len = end - i, and perplexity = exp(Σ weighted NLL / L).
 *
 * The weighting by trg_len rather than by the number of scored tokens is
 * tril's (it over-weights the first window by one token); we keep it so the
 * numbers compare. A window with no scored token (stride 1, first window) adds
 * 0 where Hugging Face's loss would be NaN.
 *
 * @param ids the token ids of the text
 * @param model the causal LM scoring it
 * @param options stride, maximum window and batching
 * @returns the perplexity
 */
export async function slidingWindowPerplexity(
  ids: number[],
  model: PerplexityModel,
  options: PerplexityOptions = {},
): Promise<number> {
  const maxLength = options.maxLength ?? causalContextLength(model.config);
  const stride = options.stride ?? Math.min(512, maxLength);
  const batchSize = options.batchSize ?? 4;
  if (!(Number.isInteger(stride) && stride >= 1 && stride <= maxLength)) {
    throw new RangeError(
      `Expected an integer stride in 1..maxLength (${maxLength}), got ${stride}`,
    );
  }
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) {
    throw new RangeError(`Expected an integer batchSize >= 1, got ${batchSize}`);
  }
  if (ids.length < 2) {
    throw new RangeError(`Expected at least 2 tokens to score, got ${ids.length}`);
  }
  const windows: { prompt: number[]; targets: number[]; trgLen: number }[] = [];
  for (let i = 0; i < ids.length; i += stride) {
    const begin = Math.max(i + stride - maxLength, 0);
    const end = Math.min(i + stride, ids.length);
    const first = Math.max(i, begin + 1);
    if (first < end) {
      windows.push({
        prompt: ids.slice(begin, first),
        targets: ids.slice(first, end),
        trgLen: end - i,
      });
    }
  }
  let nll = 0;
  for (let b = 0; b < windows.length; b += batchSize) {
    const batch = windows.slice(b, b + batchSize);
    const logProbs = await model.continuationLogProbs(
      batch.map((w) => w.prompt),
      batch.map((w) => w.targets),
    );
    batch.forEach((w, k) => {
      const meanNll = -logProbs[k].reduce((a, x) => a + x, 0) / w.targets.length;
      nll += meanNll * w.trgLen;
    });
  }
  return Math.exp(nll / ids.length);
}

/**
 * Perplexity of a set of generations as tril's `causal_output_perplexity`:
 * the generations joined by "\n\n" into one text, tokenised, then scored with
 * {@linkcode slidingWindowPerplexity}.
 *
 * @param generations the generated texts
 * @param model the (fixed) causal LM
 * @param tokenizer the model's tokenizer
 * @param options window options
 * @returns the perplexity
 */
export function outputPerplexity(
  generations: string[],
  model: PerplexityModel,
  tokenizer: Pick<Tokenizer, "encode">,
  options: PerplexityOptions = {},
): Promise<number> {
  const ids = tokenizer.encode(generations.join(options.separator ?? "\n\n"));
  return slidingWindowPerplexity(ids, model, options);
}

/**
 * The output perplexity as a metric over an evaluation batch's generations,
 * named `fluency/output_perplexity`.
 *
 * @param model the (fixed) causal LM
 * @param tokenizer the model's tokenizer
 * @param options window options
 * @returns a metric function
 */
export function outputPerplexityMetric(
  model: PerplexityModel,
  tokenizer: Pick<Tokenizer, "encode">,
  options: PerplexityOptions = {},
): MetricFunction {
  return async (batch: ScoringBatch) => ({
    "fluency/output_perplexity": await outputPerplexity(
      batch.generations,
      model,
      tokenizer,
      options,
    ),
  });
}

/**
 * IMDB's evaluation metrics (spec "Tasks", and GRUE's diversity statistics): the mean
 * sentiment reward, overall and by the paper's prompt difficulty (terciles of the prompt's own
 * sentiment), distinct-1/2, unique-1/2, vocabulary, mean length and repeated 3-grams,
 * and the perplexity of the generations under a fixed LM (the zero-shot policy) when one is
 * given.
 * @module
 */
import type { Tokenizer } from "../models/types.ts";
import { outputPerplexity, type PerplexityModel } from "../rewards/perplexity.ts";
import type { MetricFunction, RewardFunction } from "../rewards/types.ts";
import { diversityMetric } from "../rewards/diversity.ts";
import { difficultyMeans } from "../rewards/difficulty.ts";

/**
 * `sentiment/mean`, the mean by prompt difficulty (`sentiment/hard|medium|easy`), GRUE's
 * diversity statistics (`diversity/*`) and, with a reference model, `fluency/output_perplexity`.
 * @param reward the sentiment reward (P(positive) of prompt + generation)
 * @param reference the fixed LM scoring fluency and its tokenizer, or null to leave perplexity
 *   out; a function is called on first use (so a model is loaded only when metrics are asked for)
 * @returns a metric function
 */
export function imdbMetrics(
  reward: RewardFunction,
  reference:
    | { model: PerplexityModel | (() => Promise<PerplexityModel>); tokenizer: Tokenizer }
    | null,
): MetricFunction {
  let model: Promise<PerplexityModel> | null = null;
  const diversity = diversityMetric();
  return async (batch) => {
    const scores = await reward(batch);
    const out: Record<string, number> = {
      "sentiment/mean": scores.reduce((a, b) => a + b, 0) / Math.max(scores.length, 1),
      ...await difficultyMeans(batch, scores, reward, "sentiment"),
      ...await diversity(batch),
    };
    if (reference && batch.generations.length > 0) {
      const source = reference.model;
      model ??= typeof source === "function" ? source() : Promise.resolve(source);
      out["fluency/output_perplexity"] = await outputPerplexity(
        batch.generations,
        await model,
        reference.tokenizer,
      );
    }
    return out;
  };
}

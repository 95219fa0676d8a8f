/**
 * Rewards and metrics: caption metrics matching pycocoevalcap (BLEU, CIDEr-D,
 * ROUGE-L), METEOR with exact and stem matching, SPICE through its jar, the
 * SPIDEr reward, BERTScore and output perplexity.
 *
 * @example Caption metrics on tokenised strings
 * ```ts
 * import { bleu, ciderD, rougeL, tokenizeForCaptionMetrics } from "./mod.ts";
 * const cands = ["A dog runs.", "Two cats sleep."].map(tokenizeForCaptionMetrics);
 * const refs = [["A dog is running."], ["Two cats are sleeping."]].map((r) =>
 *   r.map(tokenizeForCaptionMetrics)
 * );
 * const b = bleu(cands, refs);
 * const c = ciderD(cands, refs);
 * const r = rougeL(cands, refs);
 * if (b.perItem.length !== 2 || !(c.corpus > 0) || !(r.corpus > 0)) throw new Error("unexpected");
 * ```
 * @module
 */
export type * from "./types.ts";
export { tokenizeForCaptionMetrics } from "./tokenize.ts";
export { bleu, type BleuResult } from "./bleu.ts";
export { ciderD, type CiderDOptions, type CiderDResult } from "./cider_d.ts";
export { lcsLength, rougeL, type RougeLResult } from "./rouge_l.ts";
export { porterStem } from "./porter_stemmer.ts";
export { conceptCoverage, type CoverageResult } from "./concept_coverage.ts";
export { captionMetrics, type CaptionMetricsOptions } from "./caption_metrics.ts";
export {
  meteor,
  meteorAlign,
  type MeteorAlignment,
  type MeteorOptions,
  type MeteorResult,
} from "./meteor.ts";
export { parseSpiceOutput, spice, type SpiceOptions, type SpiceResult } from "./spice.ts";
export {
  type SpiderMode,
  type SpiderOptions,
  type SpiderReward,
  spiderReward,
  type SpiderScores,
  spiderScores,
} from "./spider.ts";
export {
  bertScoreIdf,
  type BertScoreValues,
  greedyCosineMatch,
  type TokenWeights,
} from "./bertscore.ts";
export {
  type BertScorer,
  type BertScoreResult,
  type BertScorerOptions,
  loadBertScorer,
  type SentenceEmbedding,
} from "./bertscore_model.ts";
export {
  outputPerplexity,
  outputPerplexityMetric,
  type PerplexityModel,
  type PerplexityOptions,
  slidingWindowPerplexity,
} from "./perplexity.ts";
// Sentiment rewards (written by the sentiment helper; re-exported whole so their API can evolve).
export * from "./sentiment_onnx.ts";
export * from "./sentiment_classifier.ts";

/**
 * Diversity of a set of generations as the GRUE benchmark (RL4LMs) reports it, through GEM's
 * `NGramStats` on lower-cased words without punctuation: distinct-n (distinct n-grams over all
 * n-grams), unique-n (n-grams seen exactly once in the whole set), the vocabulary (distinct
 * words) and the mean length in words. Plus the share of repeated 3-grams within a generation,
 * the mark of a policy that loops on a phrase the reward likes.
 * @module
 */
import type { MetricFunction, ScoringBatch } from "./types.ts";

/**
 * Lower-cased words of a text, punctuation dropped (GEM's `-nopunct` variant). HTML line
 * breaks (`<br />`, IMDB's) separate words and are not words themselves.
 */
export function diversityWords(text: string): string[] {
  return text.toLowerCase().replace(/<br\s*\/?>/g, " ").match(/[\p{L}\p{N}]+(?:'[\p{L}]+)?/gu) ??
    [];
}

/** What {@linkcode diversityStats} measures. */
export interface DiversityStats {
  /** Distinct n-grams / all n-grams, over the whole set. */
  distinct1: number;
  distinct2: number;
  /** N-grams occurring exactly once in the whole set. */
  unique1: number;
  unique2: number;
  /** Distinct words. */
  vocabularySize: number;
  /** Mean words per generation. */
  meanLength: number;
  /** Of all 3-grams, the share that repeat an earlier 3-gram of the same generation. */
  repeated3grams: number;
}

function ngramCounts(docs: string[][], n: number): { counts: Map<string, number>; total: number } {
  const counts = new Map<string, number>();
  let total = 0;
  for (const words of docs) {
    for (let i = 0; i + n <= words.length; i++) {
      const key = words.slice(i, i + n).join(" ");
      counts.set(key, (counts.get(key) ?? 0) + 1);
      total++;
    }
  }
  return { counts, total };
}

/**
 * The diversity statistics of `generations`.
 * @param generations the generated texts
 * @returns distinct-1/2, unique-1/2, vocabulary, mean length and repeated 3-gram share
 */
export function diversityStats(generations: string[]): DiversityStats {
  const docs = generations.map(diversityWords);
  const [one, two] = [ngramCounts(docs, 1), ngramCounts(docs, 2)];
  const once = (counts: Map<string, number>) => [...counts.values()].filter((c) => c === 1).length;
  let trigrams = 0;
  let repeated = 0;
  for (const words of docs) {
    const seen = new Set<string>();
    for (let i = 0; i + 3 <= words.length; i++) {
      const key = words.slice(i, i + 3).join(" ");
      if (seen.has(key)) repeated++;
      seen.add(key);
      trigrams++;
    }
  }
  return {
    distinct1: one.total > 0 ? one.counts.size / one.total : 0,
    distinct2: two.total > 0 ? two.counts.size / two.total : 0,
    unique1: once(one.counts),
    unique2: once(two.counts),
    vocabularySize: one.counts.size,
    meanLength: docs.length > 0 ? one.total / docs.length : 0,
    repeated3grams: trigrams > 0 ? repeated / trigrams : 0,
  };
}

/**
 * The diversity statistics as metrics (`diversity/distinct-1`, `diversity/distinct-2`,
 * `diversity/unique-1`, `diversity/unique-2`, `diversity/vocabulary`, `diversity/mean_length`,
 * `diversity/repeated_3grams`).
 */
export function diversityMetric(): MetricFunction {
  return (batch: ScoringBatch) => {
    const s = diversityStats(batch.generations);
    return Promise.resolve({
      "diversity/distinct-1": s.distinct1,
      "diversity/distinct-2": s.distinct2,
      "diversity/unique-1": s.unique1,
      "diversity/unique-2": s.unique2,
      "diversity/vocabulary": s.vocabularySize,
      "diversity/mean_length": s.meanLength,
      "diversity/repeated_3grams": s.repeated3grams,
    });
  };
}

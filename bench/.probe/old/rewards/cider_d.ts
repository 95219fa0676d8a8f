/**
 * CIDEr-D with the semantics of pycocoevalcap's `Cider` scorer.
 * @module
 */

import { checkCaptionInput, ngramCounts, splitWords } from "./_ngrams.ts";

/** CIDEr-D of a set: the mean and the value of each candidate. */
export interface CiderDResult {
  /** Mean of the per-item scores. */
  corpus: number;
  /** Score of each candidate against its own references. */
  perItem: number[];
}

/** Options of {@linkcode ciderD}. */
export interface CiderDOptions {
  /** Largest n-gram order. @default 4 */
  n?: number;
  /** Standard deviation of the Gaussian length penalty. @default 6 */
  sigma?: number;
}

interface TfIdf {
  vec: Map<string, number>[];
  norm: number[];
  length: number;
}

/**
 * CIDEr-D as pycocoevalcap computes it (Vedantam et al. 2015 with the "-D"
 * changes): document frequencies counted over the references of the scored set
 * (an n-gram counts once per item), idf = log(items) - log(max(1, df)), raw
 * term counts times idf, similarity clipped as min(hyp, ref) * ref over the
 * norms, a Gaussian penalty on the length difference (σ = 6), mean over n = 1..4
 * and over references, times 10.
 *
 * Length, as there, is the number of bigrams of a sentence (words - 1, 0 for
 * one word or none): pycocoevalcap counts `n == 1` on a 0-based order index.
 * Scores therefore depend on the whole set passed in; a single item scores 0.
 *
 * @example
 * ```ts
 * import { ciderD } from "./cider_d.ts";
 * const r = ciderD(["a dog runs", "a cat sleeps"], [["a dog runs"], ["a cat sleeps"]]);
 * if (!(r.corpus > 0)) throw new Error("expected a positive score");
 * ```
 * @param candidates one tokenised candidate string per item
 * @param references the tokenised reference strings of each item (at least one)
 * @param options n-gram order and σ
 * @returns mean and per-item CIDEr-D
 */
export function ciderD(
  candidates: string[],
  references: string[][],
  options: CiderDOptions = {},
): CiderDResult {
  checkCaptionInput("ciderD", candidates, references);
  const n = options.n ?? 4;
  const sigma = options.sigma ?? 6;
  const refCounts = references.map((refs) => refs.map((r) => ngramCounts(splitWords(r), n)));
  const df = new Map<string, number>();
  for (const refs of refCounts) {
    const seen = new Set<string>();
    for (const counts of refs) for (const m of counts) for (const g of m.keys()) seen.add(g);
    for (const g of seen) df.set(g, (df.get(g) ?? 0) + 1);
  }
  const logItems = Math.log(candidates.length);
  const toVec = (counts: Map<string, number>[]): TfIdf => {
    const vec = counts.map((m) => {
      const v = new Map<string, number>();
      for (const [g, tf] of m) v.set(g, tf * (logItems - Math.log(Math.max(1, df.get(g) ?? 0))));
      return v;
    });
    const norm = vec.map((v) => {
      let s = 0;
      for (const x of v.values()) s += x ** 2;
      return Math.sqrt(s);
    });
    let length = 0;
    if (n > 1) { for (const c of counts[1].values()) length += c; }
    return { vec, norm, length };
  };
  const perItem = candidates.map((cand, i) => {
    const hyp = toVec(ngramCounts(splitWords(cand), n));
    const score = new Array(n).fill(0);
    for (const refCount of refCounts[i]) {
      const ref = toVec(refCount);
      const penalty = Math.exp(-((hyp.length - ref.length) ** 2) / (2 * sigma ** 2));
      for (let k = 0; k < n; k++) {
        let val = 0;
        for (const [g, h] of hyp.vec[k]) {
          const r = ref.vec[k].get(g) ?? 0;
          val += Math.min(h, r) * r;
        }
        if (hyp.norm[k] !== 0 && ref.norm[k] !== 0) val /= hyp.norm[k] * ref.norm[k];
        score[k] += val * penalty;
      }
    }
    const mean = score.reduce((a, b) => a + b, 0) / n;
    return (mean / refCounts[i].length) * 10;
  });
  const corpus = perItem.length === 0 ? NaN : perItem.reduce((a, b) => a + b, 0) / perItem.length;
  return { corpus, perItem };
}

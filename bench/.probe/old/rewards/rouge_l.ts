/**
 * ROUGE-L with the semantics of pycocoevalcap's `Rouge` scorer.
 * @module
 */

import { checkCaptionInput } from "./_ngrams.ts";

/** ROUGE-L of a set: the mean and the value of each candidate. */
export interface RougeLResult {
  /** Mean of the per-item scores. */
  corpus: number;
  /** Score of each candidate against its own references. */
  perItem: number[];
}

/** pycocoevalcap's β (recall weighted 1.2² times precision). */
const BETA = 1.2;

/**
 * ROUGE-L as pycocoevalcap computes it: the longest common subsequence with
 * each reference gives a precision and a recall; the maxima over references
 * (taken separately) give F = (1 + β²)PR / (R + β²P) with β = 1.2, 0 when either
 * is 0. Words are split on single spaces as there (`split(" ")`), so an empty
 * string is one empty word.
 *
 * @example
 * ```ts
 * import { rougeL } from "./rouge_l.ts";
 * const r = rougeL(["a b c"], [["a b c"]]);
 * if (Math.abs(r.corpus - 1) > 1e-12) throw new Error("expected 1");
 * ```
 * @param candidates one tokenised candidate string per item
 * @param references the tokenised reference strings of each item (at least one)
 * @returns mean and per-item ROUGE-L
 */
export function rougeL(candidates: string[], references: string[][]): RougeLResult {
  checkCaptionInput("rougeL", candidates, references);
  const perItem = candidates.map((cand, i) => {
    const c = cand.split(" ");
    let precMax = 0;
    let recMax = 0;
    for (const ref of references[i]) {
      const r = ref.split(" ");
      const lcs = lcsLength(r, c);
      precMax = Math.max(precMax, lcs / c.length);
      recMax = Math.max(recMax, lcs / r.length);
    }
    if (precMax === 0 || recMax === 0) return 0;
    return ((1 + BETA ** 2) * precMax * recMax) / (recMax + BETA ** 2 * precMax);
  });
  const corpus = perItem.length === 0 ? NaN : perItem.reduce((a, b) => a + b, 0) / perItem.length;
  return { corpus, perItem };
}

/** Length of the longest common subsequence of two word lists (one DP row). */
export function lcsLength(a: string[], b: string[]): number {
  const row = new Array(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    let diag = 0;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j];
      row[j] = a[i - 1] === b[j - 1] ? diag + 1 : Math.max(up, row[j - 1]);
      diag = up;
    }
  }
  return row[b.length];
}

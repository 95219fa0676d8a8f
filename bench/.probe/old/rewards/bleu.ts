/**
 * BLEU-1..4 with the semantics of pycocoevalcap's `Bleu` scorer.
 * @module
 */

import { checkCaptionInput, ngramCounts, splitWords } from "./_ngrams.ts";

/** BLEU-1..4 of a set: the corpus values and the values of each candidate. */
export interface BleuResult {
  /** Corpus BLEU-1..4 from clipped counts and lengths summed over the set. */
  corpus: number[];
  /** `perItem[i]` = BLEU-1..4 of candidate i against its own references. */
  perItem: number[][];
}

const N = 4;
// pycocoevalcap's smoothing: tiny on the numerator so a zero count gives ~0, small on the denominator.
const TINY = 1e-15;
const SMALL = 1e-9;

/**
 * BLEU-1..4 as pycocoevalcap computes it: clipped n-gram precision against the
 * maximum count over a candidate's references, the "closest" reference length
 * (ties to the shorter) for the brevity penalty, per-item scores smoothed with
 * tiny = 1e-15 / small = 1e-9, and a corpus score from summed counts.
 * Strings are split on whitespace as Python's `str.split()` does.
 *
 * @example Identical candidate and reference
 * ```ts
 * import { bleu } from "./bleu.ts";
 * const { corpus } = bleu(["a cat sits on the mat"], [["a cat sits on the mat"]]);
 * if (Math.abs(corpus[3] - 1) > 1e-6) throw new Error("expected BLEU-4 = 1");
 * ```
 * @param candidates one tokenised candidate string per item
 * @param references the tokenised reference strings of each item (at least one)
 * @returns corpus BLEU-1..4 and per-item BLEU-1..4
 */
export function bleu(candidates: string[], references: string[][]): BleuResult {
  checkCaptionInput("bleu", candidates, references);
  const totalGuess = new Array(N).fill(0);
  const totalCorrect = new Array(N).fill(0);
  let totalTest = 0;
  let totalRef = 0;
  const perItem: number[][] = [];
  for (let i = 0; i < candidates.length; i++) {
    const test = splitWords(candidates[i]);
    const testCounts = ngramCounts(test, N);
    const maxRef: Map<string, number>[] = Array.from({ length: N }, () => new Map());
    const refLens: number[] = [];
    for (const ref of references[i]) {
      const words = splitWords(ref);
      refLens.push(words.length);
      ngramCounts(words, N).forEach((m, k) => {
        for (const [g, c] of m) maxRef[k].set(g, Math.max(maxRef[k].get(g) ?? 0, c));
      });
    }
    const refLen = closestLength(refLens, test.length);
    const guess = Array.from({ length: N }, (_, k) => Math.max(0, test.length - k));
    const correct = testCounts.map((m, k) => {
      let c = 0;
      for (const [g, cnt] of m) c += Math.min(maxRef[k].get(g) ?? 0, cnt);
      return c;
    });
    perItem.push(combine(correct, guess, test.length, refLen));
    totalTest += test.length;
    totalRef += refLen;
    for (let k = 0; k < N; k++) {
      totalGuess[k] += guess[k];
      totalCorrect[k] += correct[k];
    }
  }
  return { corpus: combine(totalCorrect, totalGuess, totalTest, totalRef), perItem };
}

/** The reference length closest to the candidate's, the shorter on a tie (Python's min over tuples). */
function closestLength(refLens: number[], testLen: number): number {
  let best = refLens[0];
  for (const l of refLens) {
    const d = Math.abs(l - testLen);
    const bd = Math.abs(best - testLen);
    if (d < bd || (d === bd && l < best)) best = l;
  }
  return best;
}

/** Geometric means of the smoothed precisions 1..k times the brevity penalty. */
function combine(correct: number[], guess: number[], testLen: number, refLen: number): number[] {
  const out: number[] = [];
  let product = 1;
  for (let k = 0; k < N; k++) {
    product *= (correct[k] + TINY) / (guess[k] + SMALL);
    out.push(product ** (1 / (k + 1)));
  }
  const ratio = (testLen + TINY) / (refLen + SMALL);
  if (ratio < 1) {
    const bp = Math.exp(1 - 1 / ratio);
    for (let k = 0; k < N; k++) out[k] *= bp;
  }
  return out;
}

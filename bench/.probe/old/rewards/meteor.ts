/**
 * METEOR (Banerjee & Lavie 2005) with exact and Porter-stem matching.
 * @module
 */

import { checkCaptionInput, splitWords } from "./_ngrams.ts";
import { porterStem } from "./porter_stemmer.ts";

/** METEOR's parameters. */
export interface MeteorOptions {
  /** Weight of precision in the harmonic mean Fmean = PR / (αP + (1 - α)R). @default 0.9 */
  alpha?: number;
  /** Exponent of the fragmentation penalty. @default 3 */
  beta?: number;
  /** Maximum fragmentation penalty. @default 0.5 */
  gamma?: number;
  /** Alignment search budget (nodes) per sentence pair; past it the best alignment found is kept. @default 100000 */
  maxSearchNodes?: number;
}

/** How one candidate aligned to one reference. */
export interface MeteorAlignment {
  /** METEOR of the pair. */
  score: number;
  /** Words matched exactly. */
  exact: number;
  /** Words matched by Porter stem only. */
  stem: number;
  /** Runs of matches contiguous in both sentences. */
  chunks: number;
  /** Matched words over candidate words. */
  precision: number;
  /** Matched words over reference words. */
  recall: number;
}

/** METEOR of a set: the mean and the value of each candidate. */
export interface MeteorResult {
  /** Mean of the per-item scores. */
  corpus: number;
  /** Best score of each candidate over its references. */
  perItem: number[];
}

/**
 * METEOR over a set: for each candidate the best score over its references.
 *
 * Deviations from the METEOR 1.5 jar that pycocoevalcap runs: only the exact
 * and Porter-stem modules (no WordNet synonyms and no paraphrase tables, so
 * scores are lower or equal), the original 2005 parameters (α 0.9, β 3, γ 0.5)
 * rather than the 1.5 "en" tuned ones, no function-word weighting, and the
 * corpus value is the mean of the item scores rather than a score from
 * counts pooled over the set.
 *
 * @example
 * ```ts
 * import { meteor } from "./meteor.ts";
 * const r = meteor(["the cat sat"], [["the cat sat"]]);
 * if (Math.abs(r.corpus - (1 - 0.5 / 27)) > 1e-12) throw new Error("unexpected score");
 * ```
 * @param candidates one tokenised candidate string per item
 * @param references the tokenised reference strings of each item (at least one)
 * @param options METEOR's parameters
 * @returns mean and per-item METEOR
 */
export function meteor(
  candidates: string[],
  references: string[][],
  options: MeteorOptions = {},
): MeteorResult {
  checkCaptionInput("meteor", candidates, references);
  const perItem = candidates.map((cand, i) => {
    const c = splitWords(cand);
    return Math.max(...references[i].map((r) => meteorAlign(c, splitWords(r), options).score));
  });
  const corpus = perItem.length === 0 ? NaN : perItem.reduce((a, b) => a + b, 0) / perItem.length;
  return { corpus, perItem };
}

/**
 * Aligns a candidate to one reference and scores it. Stages follow METEOR:
 * as many exact matches as possible, then as many stem matches as possible
 * among the words left; among all such alignments, the one with the fewest
 * chunks (searched exhaustively with pruning, within `maxSearchNodes`).
 *
 * @param candidate candidate words
 * @param reference reference words
 * @param options METEOR's parameters
 * @returns the score and the alignment's counts
 */
export function meteorAlign(
  candidate: string[],
  reference: string[],
  options: MeteorOptions = {},
): MeteorAlignment {
  const alpha = options.alpha ?? 0.9;
  const beta = options.beta ?? 3;
  const gamma = options.gamma ?? 0.5;
  const { exact, stem, chunks } = bestAlignment(
    candidate,
    reference,
    options.maxSearchNodes ?? 1e5,
  );
  const m = exact + stem;
  if (m === 0) return { score: 0, exact, stem, chunks, precision: 0, recall: 0 };
  const precision = m / candidate.length;
  const recall = m / reference.length;
  const fmean = (precision * recall) / (alpha * precision + (1 - alpha) * recall);
  const penalty = gamma * (chunks / m) ** beta;
  return { score: fmean * (1 - penalty), exact, stem, chunks, precision, recall };
}

function countOf<T>(items: T[]): Map<T, number> {
  const m = new Map<T, number>();
  for (const x of items) m.set(x, (m.get(x) ?? 0) + 1);
  return m;
}

/** Sum over keys of min(a, b): the size of a maximum matching between equal keys. */
function overlap<T>(a: Map<T, number>, b: Map<T, number>): number {
  let s = 0;
  for (const [k, v] of a) s += Math.min(v, b.get(k) ?? 0);
  return s;
}

function bestAlignment(
  c: string[],
  r: string[],
  maxNodes: number,
): { exact: number; stem: number; chunks: number } {
  const cStem = c.map(porterStem);
  const rStem = r.map(porterStem);
  const cWords = countOf(c);
  const rWords = countOf(r);
  const maxExact = overlap(cWords, rWords);
  // Words left after a maximal exact stage do not depend on which exact pairs were chosen.
  const leftC = new Map<string, number>();
  const leftR = new Map<string, number>();
  for (const [w, n] of cWords) {
    const extra = n - (rWords.get(w) ?? 0);
    if (extra > 0) leftC.set(porterStem(w), (leftC.get(porterStem(w)) ?? 0) + extra);
  }
  for (const [w, n] of rWords) {
    const extra = n - (cWords.get(w) ?? 0);
    if (extra > 0) leftR.set(porterStem(w), (leftR.get(porterStem(w)) ?? 0) + extra);
  }
  const maxTotal = maxExact + overlap(leftC, leftR);

  // Candidate words (and stems) not yet visited, reference ones not yet used.
  const restCWords = countOf(c);
  const restCStems = countOf(cStem);
  const freeRWords = countOf(r);
  const freeRStems = countOf(rStem);
  const used = new Array(r.length).fill(false);
  let best = { exact: 0, stem: 0, chunks: Infinity };
  let nodes = 0;

  const visit = (i: number, exact: number, total: number, chunks: number, prevJ: number) => {
    if (++nodes > maxNodes && best.chunks !== Infinity) return;
    if (chunks >= best.chunks) return;
    if (i === c.length) {
      if (exact === maxExact && total === maxTotal) best = { exact, stem: total - exact, chunks };
      return;
    }
    if (exact + overlap(restCWords, freeRWords) < maxExact) return;
    if (total + overlap(restCStems, freeRStems) < maxTotal) return;
    const w = c[i];
    const s = cStem[i];
    const take = (delta: number) => {
      restCWords.set(w, restCWords.get(w)! + delta);
      restCStems.set(s, restCStems.get(s)! + delta);
    };
    take(-1);
    // Continuing the current chunk first finds good alignments early, so pruning bites.
    const order = [prevJ + 1, ...r.keys()].filter((j, k) =>
      j >= 0 && j < r.length && (k === 0 || j !== prevJ + 1)
    );
    for (const j of order) {
      if (used[j] || rStem[j] !== s) continue;
      const isExact = r[j] === w;
      used[j] = true;
      freeRWords.set(r[j], freeRWords.get(r[j])! - 1);
      freeRStems.set(rStem[j], freeRStems.get(rStem[j])! - 1);
      visit(i + 1, exact + (isExact ? 1 : 0), total + 1, chunks + (j === prevJ + 1 ? 0 : 1), j);
      used[j] = false;
      freeRWords.set(r[j], freeRWords.get(r[j])! + 1);
      freeRStems.set(rStem[j], freeRStems.get(rStem[j])! + 1);
    }
    visit(i + 1, exact, total, chunks, -2);
    take(1);
  };
  visit(0, 0, 0, 0, -2);
  return best.chunks === Infinity ? { exact: 0, stem: 0, chunks: 0 } : best;
}

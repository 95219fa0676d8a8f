/**
 * BERTScore's matching math (Zhang et al. 2020), over token embeddings already computed.
 * @module
 */

/** BERTScore of one candidate against one reference. */
export interface BertScoreValues {
  /** Weighted mean over candidate tokens of the best cosine with a reference token. */
  precision: number;
  /** Weighted mean over reference tokens of the best cosine with a candidate token. */
  recall: number;
  /** 2PR / (P + R), 0 where that is undefined (as the bert_score package masks NaN). */
  f1: number;
}

/** Token weights for {@linkcode greedyCosineMatch}; uniform when left out. */
export interface TokenWeights {
  /** One weight per candidate token. */
  candidate?: ArrayLike<number>;
  /** One weight per reference token. */
  reference?: ArrayLike<number>;
}

function normalise(rows: ArrayLike<number>[]): Float64Array[] {
  return rows.map((row) => {
    let s = 0;
    for (let k = 0; k < row.length; k++) s += row[k] * row[k];
    const inv = 1 / Math.sqrt(s);
    return Float64Array.from(row, (x) => x * inv);
  });
}

function weightedMean(values: number[], weights: ArrayLike<number> | undefined): number {
  if (!weights) return values.reduce((a, b) => a + b, 0) / values.length;
  let num = 0;
  let den = 0;
  values.forEach((v, i) => {
    num += weights[i] * v;
    den += weights[i];
  });
  return num / den;
}

/**
 * Greedy cosine matching: every token embedding is L2-normalised, each
 * candidate token takes its most similar reference token (precision) and each
 * reference token its most similar candidate token (recall), averaged with the
 * given weights (idf in bert_score), F1 = 2PR / (P + R).
 *
 * A side whose weights sum to 0 gives NaN for its mean, as in bert_score; F1
 * is then 0.
 *
 * @example Identical embeddings match perfectly
 * ```ts
 * import { greedyCosineMatch } from "./bertscore.ts";
 * const e = [[1, 0], [0, 2]];
 * const s = greedyCosineMatch(e, e);
 * if (Math.abs(s.f1 - 1) > 1e-12) throw new Error("expected F1 = 1");
 * ```
 * @param candidate one embedding per candidate token
 * @param reference one embedding per reference token
 * @param weights optional per-token weights of each side
 * @returns precision, recall and F1
 */
export function greedyCosineMatch(
  candidate: ArrayLike<number>[],
  reference: ArrayLike<number>[],
  weights: TokenWeights = {},
): BertScoreValues {
  if (candidate.length === 0 || reference.length === 0) {
    throw new RangeError(
      `Expected at least one token on each side, got ${candidate.length} and ${reference.length}`,
    );
  }
  const dim = candidate[0].length;
  for (const row of [...candidate, ...reference]) {
    if (row.length !== dim) {
      throw new RangeError(`Expected embeddings of size ${dim}, got ${row.length}`);
    }
  }
  for (
    const [side, w, n] of [
      ["candidate", weights.candidate, candidate.length],
      ["reference", weights.reference, reference.length],
    ] as const
  ) {
    if (w && w.length !== n) throw new RangeError(`Expected ${n} ${side} weights, got ${w.length}`);
  }
  const c = normalise(candidate);
  const r = normalise(reference);
  const bestForC = new Array(c.length).fill(-Infinity);
  const bestForR = new Array(r.length).fill(-Infinity);
  for (let i = 0; i < c.length; i++) {
    for (let j = 0; j < r.length; j++) {
      let dot = 0;
      for (let k = 0; k < dim; k++) dot += c[i][k] * r[j][k];
      if (dot > bestForC[i]) bestForC[i] = dot;
      if (dot > bestForR[j]) bestForR[j] = dot;
    }
  }
  const precision = weightedMean(bestForC, weights.candidate);
  const recall = weightedMean(bestForR, weights.reference);
  const f1 = (2 * precision * recall) / (precision + recall);
  return { precision, recall, f1: Number.isNaN(f1) ? 0 : f1 };
}

/**
 * Inverse document frequencies over reference sentences, as the bert_score
 * package computes them: idf(t) = log((M + 1) / (df(t) + 1)) for M reference
 * sentences, a token counted once per sentence; a token never seen gets
 * log(M + 1); special tokens get 0.
 *
 * @param referenceTokenIds the token ids of each reference sentence
 * @param specialTokenIds ids weighted 0 (bert_score's [CLS] and [SEP]; none for GPT-2's tokenizer)
 * @returns the idf of a token id
 */
export function bertScoreIdf(
  referenceTokenIds: number[][],
  specialTokenIds: number[] = [],
): (tokenId: number) => number {
  const m = referenceTokenIds.length;
  const df = new Map<number, number>();
  for (const ids of referenceTokenIds) {
    for (const id of new Set(ids)) df.set(id, (df.get(id) ?? 0) + 1);
  }
  const special = new Set(specialTokenIds);
  return (id) => special.has(id) ? 0 : Math.log((m + 1) / ((df.get(id) ?? 0) + 1));
}

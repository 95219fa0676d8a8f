/**
 * Choosing the next token from one row of logits: EOS suppression, temperature,
 * top-k, top-p, then a seeded draw (or the argmax). Shared by every decoder so
 * that a tfjs model and an ONNX model given the same logits pick the same token.
 * @module
 */
import type { Rng } from "../core/prng.ts";

/** How to turn logits into the next token. */
export interface TokenChoice {
  /** Sample (true) or take the argmax (false). */
  doSample: boolean;
  /** @default 1 */
  temperature?: number;
  /** 0 = off. @default 0 */
  topK?: number;
  /** 1 = off. @default 1 */
  topP?: number;
  /** Tokens that may not be chosen now (e.g. EOS before the minimum length). */
  suppress?: readonly number[];
}

/** The index of the largest value, skipping suppressed tokens (ties: lowest index). */
export function argmax(logits: ArrayLike<number>, suppress: readonly number[] = []): number {
  let best = -1;
  let bestValue = -Infinity;
  for (let i = 0; i < logits.length; i++) {
    if (logits[i] > bestValue && !suppress.includes(i)) {
      best = i;
      bestValue = logits[i];
    }
  }
  return best < 0 ? 0 : best;
}

/** Chooses the next token from one row of logits; `rng` is needed when sampling. */
export function chooseToken(logits: ArrayLike<number>, choice: TokenChoice, rng?: Rng): number {
  const suppress = choice.suppress ?? [];
  if (!choice.doSample) return argmax(logits, suppress);
  if (!rng) throw new TypeError("Sampling needs an rng (GenerateOptions.rng)");
  const temperature = choice.temperature ?? 1;
  if (!(temperature > 0)) throw new RangeError(`Temperature must be > 0, got ${temperature}`);
  const topK = choice.topK ?? 0;
  const topP = choice.topP ?? 1;

  // Candidates sorted by logit, descending, ties by index (as a stable sort does).
  const candidates: number[] = [];
  for (let i = 0; i < logits.length; i++) if (!suppress.includes(i)) candidates.push(i);
  candidates.sort((a, b) => logits[b] - logits[a] || a - b);
  let kept = topK > 0 ? candidates.slice(0, topK) : candidates;

  const maxLogit = logits[kept[0]] / temperature;
  let weights = kept.map((i) => Math.exp(logits[i] / temperature - maxLogit));
  if (topP < 1) {
    const total = weights.reduce((s, w) => s + w, 0);
    let cumulative = 0;
    let cut = kept.length;
    // Keep the smallest prefix whose mass reaches topP (HF keeps the token that crosses it).
    for (let j = 0; j < kept.length; j++) {
      cumulative += weights[j] / total;
      if (cumulative >= topP) {
        cut = j + 1;
        break;
      }
    }
    kept = kept.slice(0, cut);
    weights = weights.slice(0, cut);
  }
  const total = weights.reduce((s, w) => s + w, 0);
  let u = rng.random() * total;
  for (let j = 0; j < kept.length; j++) {
    u -= weights[j];
    if (u < 0) return kept[j];
  }
  return kept[kept.length - 1];
}

/**
 * T5's pretraining objective (Raffel et al. 2020, §3.1.4), on token ids: about
 * 15 % of a text's tokens, in spans of mean length 3, are dropped from the
 * encoder input, each span replaced by one sentinel; the decoder target is
 * each sentinel followed by the span it hid, then EOS. "Thank you for
 * inviting me to your party last week" → input "Thank you <X> me to your
 * party <Y> week", target "<X> for inviting <Y> last </s>".
 * @module
 */
import type { Rng } from "../core/prng.ts";

/** Options of {@linkcode spanCorruption}. */
export interface SpanCorruptionOptions {
  /** Sentinel ids in order: the i-th dropped span is replaced by `sentinels[i]`. */
  sentinels: readonly number[];
  /** The id the target ends with. */
  eosTokenId: number;
  /** Share of tokens dropped. @default 0.15 */
  noiseDensity?: number;
  /** Mean length of a dropped span. @default 3 */
  meanSpanLength?: number;
}

/** One (encoder input, decoder target) pair. */
export interface SpanCorruptionPair {
  /** The text with each dropped span replaced by its sentinel. */
  prompt: number[];
  /** Each sentinel followed by the span it replaced, then EOS. */
  target: number[];
}

/**
 * Corrupts one text as T5's `random_spans_noise_mask` does: round(n · density)
 * noise tokens (at least 1, at most n - 1) in round(noise / mean length) spans
 * (at least 1; no more than the sentinels), both the noise and the kept tokens
 * cut into that many non-empty runs at uniformly random points, kept and noise
 * runs alternating, then the pattern rotated by a random offset (T5X's
 * `random_roll`) so the last token is not always dropped.
 * @param ids the text's tokens (at least 2)
 * @param rng the random stream (cut points and offset)
 * @param options sentinels, EOS, density and span length
 * @returns the encoder input and decoder target
 * @throws {RangeError} for a text of fewer than 2 tokens or no sentinels
 */
export function spanCorruption(
  ids: readonly number[],
  rng: Rng,
  options: SpanCorruptionOptions,
): SpanCorruptionPair {
  const n = ids.length;
  if (n < 2) throw new RangeError(`spanCorruption() needs at least 2 tokens, got ${n}`);
  if (options.sentinels.length === 0) throw new RangeError("spanCorruption() needs sentinels");
  const density = options.noiseDensity ?? 0.15;
  const meanSpan = options.meanSpanLength ?? 3;
  const noise = Math.min(n - 1, Math.max(1, Math.round(n * density)));
  const spans = Math.min(
    options.sentinels.length,
    noise,
    n - noise,
    Math.max(1, Math.round(noise / meanSpan)),
  );
  const noiseRuns = randomSegmentation(noise, spans, rng);
  const keptRuns = randomSegmentation(n - noise, spans, rng);
  const isNoise: boolean[] = [];
  for (let s = 0; s < spans; s++) {
    for (let i = 0; i < keptRuns[s]; i++) isNoise.push(false);
    for (let i = 0; i < noiseRuns[s]; i++) isNoise.push(true);
  }
  const offset = rng.int(n);
  const mask = isNoise.map((_, i) => isNoise[(i + n - offset) % n]);
  const prompt: number[] = [];
  const target: number[] = [];
  let span = -1;
  for (let i = 0; i < n; i++) {
    if (!mask[i]) {
      prompt.push(ids[i]);
      continue;
    }
    if (i === 0 || !mask[i - 1]) {
      span++;
      prompt.push(options.sentinels[span]);
      target.push(options.sentinels[span]);
    }
    target.push(ids[i]);
  }
  target.push(options.eosTokenId);
  return { prompt, target };
}

/** `total` items cut into `parts` non-empty runs at uniformly random distinct cut points. */
function randomSegmentation(total: number, parts: number, rng: Rng): number[] {
  const cuts = new Set<number>();
  while (cuts.size < parts - 1) cuts.add(1 + rng.int(total - 1));
  const points = [0, ...[...cuts].sort((a, b) => a - b), total];
  return points.slice(1).map((p, i) => p - points[i]);
}

/**
 * Sampling continuations with per-row lengths, shared by roll-in and roll-out.
 * @module
 */
import type { Rng } from "../core/prng.ts";
import type { TokenGenerator } from "../models/types.ts";
import type { GenerationConfig } from "./types.ts";

/**
 * Samples one continuation per row, each with its own maximum and minimum length
 * (restarts deep into a sequence need fewer tokens and a lower minimum).
 *
 * @param policy the sampling policy
 * @param inputs the input ids of each row
 * @param lengths the maximum and minimum new tokens of each row
 * @param config decoding settings and the random stream
 * @param prefixes tokens each row's output already holds (a restart state): after the input for a
 *   decoder-only policy, in the decoder for a seq2seq one
 * @returns the new tokens of each row
 */
export async function sampleRows(
  policy: TokenGenerator,
  inputs: number[][],
  lengths: { max: number[]; min: number[] },
  config: GenerationConfig & { rng: Rng },
  prefixes?: number[][],
): Promise<number[][]> {
  const out: number[][] = inputs.map(() => []);
  const rows = inputs.flatMap((_, i) => lengths.max[i] > 0 ? [i] : []);
  if (rows.length === 0) return out;
  const seq2seq = policy.seq2seq === true;
  const input = (i: number) => (prefixes && !seq2seq ? inputs[i].concat(prefixes[i]) : inputs[i]);
  const generated = await policy.generate(rows.map(input), {
    ...(prefixes && seq2seq ? { prefixes: rows.map((i) => prefixes[i]) } : {}),
    maxNewTokens: rows.map((i) => lengths.max[i]),
    minNewTokens: rows.map((i) => Math.min(lengths.min[i], lengths.max[i])),
    doSample: true,
    temperature: config.temperature,
    topK: config.topK,
    topP: config.topP,
    ...(config.eosTokenId !== undefined ? { eosTokenId: config.eosTokenId } : {}),
    // a seed per row, not one stream for the batch: a row's sample does not depend on the rows
    // it is batched with, and a server asked with the same seed gives the same sample
    seeds: rows.map((i) => config.rng.child(`row-${i}`).int(2 ** 31)),
  });
  if (generated.length !== rows.length) {
    throw new RangeError(`Policy returned ${generated.length} rows for ${rows.length} inputs`);
  }
  rows.forEach((row, j) => {
    if (generated[j].length > lengths.max[row]) {
      throw new RangeError(
        `Policy returned ${generated[j].length} tokens for row ${row}, more than its ${
          lengths.max[row]
        }`,
      );
    }
    out[row] = generated[j];
  });
  return out;
}

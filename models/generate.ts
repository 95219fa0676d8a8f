/**
 * `generate()` for any model that offers a {@linkcode DecodeSession}: checks the
 * options once, then runs sampling/greedy ({@linkcode decodeRows}) or beam
 * search ({@linkcode beamSearch}) on a fresh session.
 * @module
 */
import { beamSearch } from "./beam_search.ts";
import type { DecodeSession } from "./decode_session.ts";
import { decodeRows, seededStream } from "./sampling.ts";
import type { GenerateOptions } from "./types.ts";

/** What the model tells the decoder about itself. */
export interface DecoderLimits {
  /** The default end-of-sequence token. */
  eosTokenId: number;
  /** The longest prompt + continuation the model can read (its positions). */
  maxLength: number;
  /** Whether the session takes output prefixes itself (seq2seq) instead of after the prompt. */
  seq2seq?: boolean;
}

/**
 * New tokens per row for `inputIds` under `options` (see {@linkcode GenerateOptions}).
 * @param makeSession opens a fresh session of the given number of rows
 * @param inputIds the prompts
 * @param options decoding options
 * @param limits the model's EOS and length
 */
export async function generateWithSession(
  makeSession: (rows: number) => DecodeSession,
  prompts: number[][],
  options: GenerateOptions,
  limits: DecoderLimits,
): Promise<number[][]> {
  const rows = prompts.length;
  const prefixes = options.prefixes;
  if (prefixes && prefixes.length !== rows) {
    throw new RangeError(`prefixes has ${prefixes.length} rows for ${rows} prompts`);
  }
  // a decoder-only model reads an output prefix as the end of its input
  const inputIds = prefixes && !limits.seq2seq
    ? prompts.map((p, i) => p.concat(prefixes[i]))
    : prompts;
  const decoderPrefixes = limits.seq2seq ? prefixes : undefined;
  const maxNew = typeof options.maxNewTokens === "number"
    ? new Array(rows).fill(options.maxNewTokens)
    : [...options.maxNewTokens];
  if (maxNew.length !== rows || maxNew.some((n) => !Number.isInteger(n) || n < 0)) {
    throw new RangeError(`maxNewTokens must be a non-negative integer or one per row (${rows})`);
  }
  const longest = Math.max(0, ...inputIds.map((r, i) => r.length + maxNew[i]));
  if (longest > limits.maxLength) {
    throw new RangeError(
      `Sequence of ${longest} tokens exceeds nPositions ${limits.maxLength}`,
    );
  }
  const temperature = options.temperature ?? 1;
  if (!(temperature > 0)) throw new RangeError(`temperature must be > 0, got ${temperature}`);
  const topP = options.topP ?? 1;
  if (!(topP > 0 && topP <= 1)) throw new RangeError(`topP must be in (0, 1], got ${topP}`);
  const numBeams = options.numBeams ?? 1;
  const doSample = options.doSample ?? false;
  if (doSample && !options.rng && !options.rngs && !options.seeds) {
    throw new TypeError("generate() with doSample needs options.rng");
  }
  if (options.seeds && options.seeds.length !== rows) {
    throw new RangeError(`seeds has ${options.seeds.length} seeds for ${rows} rows`);
  }
  const rngs = options.seeds?.map((seed) => seededStream(seed)) ?? options.rngs;
  if (rngs && rngs.length !== rows) {
    throw new RangeError(`rngs has ${rngs.length} streams for ${rows} rows`);
  }
  const eosTokenId = options.eosTokenId === undefined ? limits.eosTokenId : options.eosTokenId;
  const minNew = typeof options.minNewTokens === "object"
    ? [...options.minNewTokens]
    : new Array(rows).fill(options.minNewTokens ?? 0);
  if (minNew.length !== rows || minNew.some((n) => !Number.isInteger(n) || n < 0)) {
    throw new RangeError(`minNewTokens must be a non-negative integer or one per row (${rows})`);
  }
  if (rows === 0) return [];
  const beams = !doSample && numBeams > 1;
  const session = makeSession(beams ? rows * numBeams : rows);
  try {
    if (beams) {
      if (options.stoppingCriteria) throw new RangeError("Beam search takes no stoppingCriteria");
      if (minNew.some((n) => n !== minNew[0])) {
        throw new RangeError("Beam search takes one minNewTokens for all rows");
      }
      return await beamSearch(session, inputIds, {
        prefixes: decoderPrefixes,
        numBeams,
        maxNewTokens: maxNew,
        minNewTokens: minNew[0],
        eosTokenId,
      });
    }
    return await decodeRows(session, inputIds, {
      prefixes: decoderPrefixes,
      doSample,
      temperature,
      topK: options.topK ?? 0,
      topP,
      maxNewTokens: maxNew,
      minNewTokens: minNew,
      eosTokenId,
      rng: options.rng,
      rngs,
      stoppingCriteria: options.stoppingCriteria,
    });
  } finally {
    session.dispose();
  }
}

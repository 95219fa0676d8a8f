/**
 * Batched sampling and greedy decoding on a {@linkcode DecodeSession}, with
 * Hugging Face's logits processing order: EOS suppressed until the minimum
 * length, then temperature, top-k and top-p.
 * @module
 */
import { Rng } from "../core/prng.ts";
import type { DecodeSession, SessionSampler, TokenDraw } from "./decode_session.ts";

/**
 * The sampling stream of choice `choice` of prompt `prompt` in a request seeded `seed`: the
 * convention `serve` answers seeded requests with and a row given `GenerateOptions.seeds` samples
 * with, so a row sampled here and the same row asked of a server with its seed agree.
 * @param seed the request's seed
 * @param prompt the prompt's index in the request
 * @param choice the choice's index (of n)
 * @returns the stream
 */
export function seededStream(seed: number, prompt = 0, choice = 0): Rng {
  return new Rng(seed).child(`prompt-${prompt}`).child(`choice-${choice}`);
}

/** How one next token is chosen from a row of logits. */
export interface TokenChoice {
  /** Sample (true) or take the argmax (false). */
  doSample: boolean;
  /** Softmax temperature (> 0). @default 1 */
  temperature?: number;
  /** Keep the k most likely tokens (0 = off). @default 0 */
  topK?: number;
  /** Keep the smallest most-likely set with probability >= p (1 = off). @default 1 */
  topP?: number;
  /** A token to forbid (EOS before the minimum length), or null. @default null */
  banned?: number | null;
}

/**
 * Chooses the next token from one row of logits.
 * @param logits the row (read only)
 * @param choice greedy or sampling settings
 * @param rng the random stream; needed when sampling
 * @returns the token id
 */
export function selectToken(logits: Float32Array, choice: TokenChoice, rng?: Rng): number {
  const banned = choice.banned ?? null;
  if (!choice.doSample) {
    let best = -1;
    for (let i = 0; i < logits.length; i++) {
      if (i !== banned && (best < 0 || logits[i] > logits[best])) best = i;
    }
    return best;
  }
  if (!rng) throw new TypeError("Sampling needs options.rng");
  const temperature = choice.temperature ?? 1;
  const topK = choice.topK ?? 0;
  const topP = choice.topP ?? 1;
  if ((topK <= 0 || topK >= logits.length) && topP >= 1) {
    return sampleAll(logits, temperature, banned, rng);
  }
  const ids = candidates(logits, topK, banned);
  return sampleAmong(ids, ids.map((i) => logits[i]), temperature, topP, rng);
}

/**
 * Samples among candidate tokens: `ids` ascending by logit (as `candidates` orders them),
 * `values` their logits; temperature, then top-p over them.
 */
function sampleAmong(
  ids: readonly number[],
  values: readonly number[],
  temperature: number,
  topP: number,
  rng: Rng,
): number {
  const order = ids.map((_, j) => j);
  // top-p needs the candidates most likely first; plain sampling does not (sorting 50k ids per
  // token would dominate decoding)
  if (topP < 1) order.sort((a, b) => values[b] - values[a]);
  let top = -Infinity;
  for (const j of order) top = Math.max(top, values[j] / temperature);
  const weights = order.map((j) => Math.exp(values[j] / temperature - top));
  const total = weights.reduce((a, b) => a + b, 0);
  let keep = order.length;
  if (topP < 1) {
    // keep a token while the mass of the tokens before it is below p
    let mass = 0;
    for (let j = 0; j < order.length; j++) {
      if (mass >= topP * total) {
        keep = j;
        break;
      }
      mass += weights[j];
    }
  }
  let kept = 0;
  for (let j = 0; j < keep; j++) kept += weights[j];
  let u = rng.random() * kept;
  for (let j = 0; j < keep; j++) {
    u -= weights[j];
    if (u < 0) return ids[order[j]];
  }
  return ids[order[keep - 1]];
}

/**
 * Samples among a row's top-k logits found by the session (`DecodeSession.topK`, most likely
 * first, k + 1 of them so that a banned token can be left out): the same candidates, in the same
 * order and with the same arithmetic as {@linkcode selectToken}'s, so the same draw gives the
 * same token.
 * @param values the row's largest logits, descending
 * @param indices their token ids
 * @param choice the sampling settings (`topK` k)
 * @param rng the random stream
 * @returns the token id
 */
export function sampleTopK(
  values: ArrayLike<number>,
  indices: ArrayLike<number | bigint>,
  choice: TokenChoice,
  rng: Rng,
): number {
  const k = choice.topK ?? 0;
  const banned = choice.banned ?? null;
  const ids: number[] = [];
  const logits: number[] = [];
  // ascending, as candidates() keeps them; the banned token out, else the (k+1)-th
  for (let j = values.length - 1; j >= 0; j--) {
    const id = Number(indices[j]);
    if (id === banned) continue;
    ids.push(id);
    logits.push(values[j]);
  }
  const extra = ids.length - k;
  return sampleAmong(
    ids.slice(extra),
    logits.slice(extra),
    choice.temperature ?? 1,
    choice.topP ?? 1,
    rng,
  );
}

// Reused weights of sampleAll: one array per process, not one per token (50k entries per row
// and token for GPT-2 made sampling cost more than a small model's forward).
let scratch = new Float64Array(0);

/**
 * Sampling from the whole vocabulary: the same arithmetic, in the same order, as the general
 * path (so the same draws give the same tokens), without building per-token arrays.
 */
function sampleAll(logits: Float32Array, temperature: number, banned: number | null, rng: Rng) {
  const n = logits.length;
  if (scratch.length < n) scratch = new Float64Array(n);
  const weights = scratch;
  let top = -Infinity;
  for (let i = 0; i < n; i++) if (i !== banned) top = Math.max(top, logits[i] / temperature);
  let total = 0;
  for (let i = 0; i < n; i++) {
    weights[i] = i === banned ? 0 : Math.exp(logits[i] / temperature - top);
    if (i !== banned) total += weights[i];
  }
  // the first token whose running sum passes u · total (as the engine's sampling head draws)
  const u = rng.random() * total;
  let running = 0;
  let last = -1;
  for (let i = 0; i < n; i++) {
    if (i === banned) continue;
    running += weights[i];
    if (running > u) return i;
    last = i;
  }
  return last;
}

/**
 * Samples a token from one row of probabilities (the session's softmax, see
 * `DecodeSession.probabilities`) with `banned` left out: one draw, as {@linkcode selectToken}
 * draws one when sampling the whole vocabulary.
 * @param probabilities the row (read only)
 * @param banned a token to forbid, or null
 * @param rng the random stream
 * @returns the token id
 */
export function sampleProbabilities(
  probabilities: Float32Array,
  banned: number | null,
  rng: Rng,
): number {
  const n = probabilities.length;
  let total = 0;
  for (let i = 0; i < n; i++) if (i !== banned) total += probabilities[i];
  // the first token whose running sum passes u · total, as the engine's sampling head draws
  const u = rng.random() * total;
  let running = 0;
  let last = -1;
  for (let i = 0; i < n; i++) {
    if (i === banned) continue;
    running += probabilities[i];
    if (running > u) return i;
    last = i;
  }
  return last;
}

/**
 * {@linkcode decodeRows} when the session samples the whole vocabulary itself: each step's
 * uniforms are drawn here, row by row from the rows' streams (one per row still going, as
 * `sampleProbabilities` draws them), with EOS banned below a row's minimum.
 */
async function sampleInSession(
  sampler: SessionSampler,
  prompts: number[][],
  options: DecodeRowsOptions,
  out: number[][],
  done: boolean[],
): Promise<number[][]> {
  const rows = prompts.length;
  const draw = (): TokenDraw => {
    const uniforms = new Float64Array(rows);
    const banned = new BigInt64Array(rows).fill(-1n);
    for (let r = 0; r < rows; r++) {
      if (done[r]) continue;
      const rng = options.rngs?.[r] ?? options.rng;
      if (!rng) throw new TypeError("Sampling needs options.rng");
      uniforms[r] = rng.random();
      if (out[r].length < options.minNewTokens[r] && options.eosTokenId !== null) {
        banned[r] = BigInt(options.eosTokenId);
      }
    }
    return { temperature: options.temperature ?? 1, uniforms, banned };
  };
  const fed = new Int32Array(rows);
  let tokens = await sampler.prefill(prompts, draw(), options.prefixes);
  for (;;) {
    for (let r = 0; r < rows; r++) {
      if (!done[r]) appendToken({ out, done, fed }, r, tokens[r], options);
    }
    if (done.every(Boolean)) return out;
    tokens = await sampler.step(fed, draw()); // finished rows keep feeding their last token
  }
}

/** Appends row r's token, feeds it next, and ends the row at EOS, its maximum or a stop. */
function appendToken(
  rows: { out: number[][]; done: boolean[]; fed: Int32Array },
  r: number,
  token: number,
  options: DecodeRowsOptions,
): void {
  const { out, done, fed } = rows;
  out[r].push(token);
  fed[r] = token;
  if (
    token === options.eosTokenId || out[r].length >= options.maxNewTokens[r] ||
    options.stoppingCriteria?.(r, out[r])
  ) done[r] = true;
}

/** Whether a choice samples from the whole vocabulary (no top-k or top-p cut). */
function samplesAll(choice: TokenChoice, vocabSize: number): boolean {
  const topK = choice.topK ?? 0;
  return choice.doSample && (topK <= 0 || topK >= vocabSize) && (choice.topP ?? 1) >= 1;
}

/** Indices of the k largest logits (all when k is 0), skipping `banned`. */
function candidates(logits: Float32Array, k: number, banned: number | null): number[] {
  const n = logits.length;
  if (k <= 0 || k >= n) {
    const all: number[] = [];
    for (let i = 0; i < n; i++) if (i !== banned) all.push(i);
    return all;
  }
  // a small sorted buffer (ascending by logit): most tokens fail the first comparison
  const best: number[] = [];
  for (let i = 0; i < n; i++) {
    if (i === banned) continue;
    const v = logits[i];
    if (best.length === k && v <= logits[best[0]]) continue;
    let at = 0;
    while (at < best.length && logits[best[at]] < v) at++;
    best.splice(at, 0, i);
    if (best.length > k) best.shift();
  }
  return best;
}

/** Settings of {@linkcode decodeRows}. */
export interface DecodeRowsOptions extends TokenChoice {
  /** New tokens per row. */
  maxNewTokens: number[];
  /** Decoder prefixes per row, for a seq2seq session (see `DecodeSession.prefill`). */
  prefixes?: number[][];
  /** EOS is banned until a row has this many new tokens, per row. */
  minNewTokens: number[];
  /** The token that ends a row, or null. */
  eosTokenId: number | null;
  /** Random stream for sampling. */
  rng?: Rng;
  /** One random stream per row, instead of `rng`. */
  rngs?: Rng[];
  /** Ends a row when it returns true (see `GenerateOptions.stoppingCriteria`). */
  stoppingCriteria?: (row: number, newTokens: readonly number[]) => boolean;
}

/**
 * Samples (or greedily decodes) every row until its EOS or its maximum.
 * @param session a fresh decode session with one row per prompt
 * @param prompts token ids per row
 * @param options decoding settings
 * @returns the new tokens per row, up to and including the first EOS
 */
export async function decodeRows(
  session: DecodeSession,
  prompts: number[][],
  options: DecodeRowsOptions,
): Promise<number[][]> {
  const { vocabSize, rows } = session;
  const out: number[][] = prompts.map(() => []);
  const done = options.maxNewTokens.map((n) => n <= 0);
  if (done.every(Boolean)) return out;
  if (session.sampler && samplesAll(options, vocabSize)) {
    return await sampleInSession(session.sampler, prompts, options, out, done);
  }
  const fed = new Int32Array(rows);
  // the session's softmax (whole vocabulary) or top-k (k + 1: room to leave a banned token out)
  // when it has them; the top-k inside the step itself when it offers that
  const fromProbabilities = samplesAll(options, vocabSize) && session.probabilities !== undefined;
  const k = options.topK ?? 0;
  const width = Math.min(k + 1, vocabSize);
  const samplesTopK = options.doSample && k > 0 && k < vocabSize;
  const topKSteps = samplesTopK ? session.topKSteps : undefined;
  const fromTopK = samplesTopK && (topKSteps !== undefined || session.topK !== undefined);
  type Step = {
    logits: Float32Array;
    top: { values: Float32Array; indices: BigInt64Array } | null;
  };
  const advance = async (first: boolean): Promise<Step> => {
    if (topKSteps) {
      const top = first
        ? await topKSteps.prefill(prompts, width, options.prefixes)
        : await topKSteps.step(fed, width);
      return { logits: new Float32Array(0), top };
    }
    // finished rows keep feeding their last token, ignored
    const logits = first
      ? await session.prefill(prompts, options.prefixes)
      : await session.step(fed);
    return { logits, top: fromTopK ? await session.topK!(logits, width) : null };
  };
  let { logits, top } = await advance(true);
  for (;;) {
    const probabilities = fromProbabilities
      ? await session.probabilities!(logits, options.temperature ?? 1)
      : null;
    for (let r = 0; r < rows; r++) {
      if (done[r]) continue;
      const banned = out[r].length < options.minNewTokens[r] ? options.eosTokenId : null;
      const rng = options.rngs?.[r] ?? options.rng;
      let token: number;
      if (probabilities) {
        if (!rng) throw new TypeError("Sampling needs options.rng");
        token = sampleProbabilities(
          probabilities.subarray(r * vocabSize, (r + 1) * vocabSize),
          banned,
          rng,
        );
      } else if (top) {
        if (!rng) throw new TypeError("Sampling needs options.rng");
        token = sampleTopK(
          top.values.subarray(r * width, (r + 1) * width),
          top.indices.subarray(r * width, (r + 1) * width),
          { ...options, banned },
          rng,
        );
      } else {
        const row = logits.subarray(r * vocabSize, (r + 1) * vocabSize);
        token = selectToken(row, { ...options, banned }, rng);
      }
      appendToken({ out, done, fed }, r, token, options);
    }
    if (done.every(Boolean)) return out;
    ({ logits, top } = await advance(false));
  }
}

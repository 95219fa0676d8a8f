/**
 * Beam search on a {@linkcode DecodeSession} (for evaluation), following
 * Hugging Face's rules: at each step the 2·numBeams best extensions of a
 * prompt's beams are ranked; an EOS among the first numBeams ends a
 * hypothesis, scored by its summed log-probability divided by its length
 * (EOS included); the rest refill the beams. A prompt is done when it has
 * numBeams hypotheses and no running beam can beat the worst of them by the
 * same heuristic, or at its maximum length.
 * @module
 */
import type { DecodeSession } from "./decode_session.ts";

/** Settings of {@linkcode beamSearch}. */
export interface BeamSearchOptions {
  /** Beams per prompt. */
  numBeams: number;
  /** Decoder prefixes per prompt, for a seq2seq session (see `DecodeSession.prefill`). */
  prefixes?: number[][];
  /** New tokens per prompt. */
  maxNewTokens: number[];
  /** EOS is banned until a beam has this many tokens. */
  minNewTokens: number;
  /** The token that ends a hypothesis, or null. */
  eosTokenId: number | null;
}

interface Hypothesis {
  tokens: number[];
  score: number; // length-normalised
}

function logSoftmaxInto(row: Float32Array, out: Float64Array, banned: number | null): void {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (i !== banned && row[i] > max) max = row[i];
  let sum = 0;
  for (let i = 0; i < row.length; i++) if (i !== banned) sum += Math.exp(row[i] - max);
  const lse = max + Math.log(sum);
  for (let i = 0; i < row.length; i++) out[i] = i === banned ? -Infinity : row[i] - lse;
}

/**
 * The best beam-search continuation of each prompt.
 * @param session a fresh session with `prompts.length * numBeams` rows
 * @param prompts token ids per prompt
 * @param options beam settings
 * @returns the new tokens per prompt, up to and including EOS
 */
export async function beamSearch(
  session: DecodeSession,
  prompts: number[][],
  options: BeamSearchOptions,
): Promise<number[][]> {
  const k = options.numBeams;
  const { vocabSize: v } = session;
  const n = prompts.length;
  const eos = options.eosTokenId;
  // beam (prompt i, slot j) is row i*k + j; only slot 0 is live at first so the first step picks distinct tokens
  let beams: number[][] = new Array(n * k).fill(null).map(() => []);
  let scores = new Float64Array(n * k).map((_, r) => (r % k === 0 ? 0 : -Infinity));
  const hyps: Hypothesis[][] = prompts.map(() => []);
  const done = options.maxNewTokens.map((m) => m === 0);
  const logp = new Float64Array(v);
  let logits = done.every(Boolean)
    ? new Float32Array(0)
    : await session.prefill(prompts, options.prefixes);
  for (let len = 1; !done.every(Boolean); len++) {
    const tokens = new Int32Array(n * k);
    const parents = Int32Array.from({ length: n * k }, (_, r) => r);
    const nextBeams = beams.slice();
    const nextScores = scores.slice();
    for (let i = 0; i < n; i++) {
      if (done[i]) continue;
      const banned = len <= options.minNewTokens ? eos : null;
      // the 2k best (score, row, token) extensions of this prompt's beams
      const best: [number, number, number][] = [];
      for (let j = 0; j < k; j++) {
        const r = i * k + j;
        if (scores[r] === -Infinity) continue;
        logSoftmaxInto(logits.subarray(r * v, (r + 1) * v), logp, banned);
        for (let tok = 0; tok < v; tok++) {
          const s = scores[r] + logp[tok];
          if (s === -Infinity || (best.length === 2 * k && s <= best[best.length - 1][0])) continue;
          let at = best.length;
          while (at > 0 && best[at - 1][0] < s) at--;
          best.splice(at, 0, [s, r, tok]);
          if (best.length > 2 * k) best.pop();
        }
      }
      let slot = 0;
      for (let rank = 0; rank < best.length && slot < k; rank++) {
        const [s, r, tok] = best[rank];
        if (tok === eos) {
          if (rank < k) addHypothesis(hyps[i], [...beams[r], tok], s / len, k);
          continue;
        }
        const row = i * k + slot++;
        nextBeams[row] = [...beams[r], tok];
        nextScores[row] = s;
        parents[row] = r;
        tokens[row] = tok;
      }
      for (; slot < k; slot++) nextScores[i * k + slot] = -Infinity;
      const top = nextScores[i * k];
      if (len >= options.maxNewTokens[i]) {
        for (let j = 0; j < k; j++) {
          const r = i * k + j;
          if (nextScores[r] > -Infinity) {
            addHypothesis(hyps[i], nextBeams[r], nextScores[r] / len, k);
          }
        }
        done[i] = true;
      } else if (
        hyps[i].length >= k && (top === -Infinity || top / len <= hyps[i][hyps[i].length - 1].score)
      ) {
        done[i] = true;
      }
    }
    beams = nextBeams;
    scores = nextScores;
    if (!done.every(Boolean)) logits = await session.step(tokens, parents);
  }
  return hyps.map((h) => (h.length ? h[0].tokens : []));
}

/** Inserts by score (best first), keeping at most `k`. */
function addHypothesis(list: Hypothesis[], tokens: number[], score: number, k: number): void {
  let at = list.length;
  while (at > 0 && list[at - 1].score < score) at--;
  list.splice(at, 0, { tokens, score });
  if (list.length > k) list.pop();
}

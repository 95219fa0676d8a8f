/**
 * The host side of a decoder-only model's graphs, shared by GPT-2 and the Llama family: the
 * feeds of a left-padded block, the decode step, the scoring layout and the rows it returns,
 * the teacher-forced training feeds. The two families differ only in how positions enter
 * their graphs (GPT-2's learned position ids, Llama's rotary tables), which each passes in as
 * a {@linkcode PositionFeeds}.
 * @module
 */
/** @ignore onnxruntime documents its own types; we reference them, not re-export them. */
import * as ort from "onnxruntime-node";
import { attentionBiasData, type ContinuationBatch, leftPad, positionIds } from "../padding.ts";
import type { LayerKV, OrtStepGraph, StepInputs, TopKStep } from "../ort_decode_session.ts";
import type { EngineSessions } from "./sessions.ts";
import type { TokenDraw } from "../decode_session.ts";
import { drawFeeds, drawnTokens, topKFeeds, topKOutputs } from "./sampling_ops.ts";
import { int64 } from "./training.ts";

/**
 * The graph inputs carrying the positions of a [b, t] block (row-major, b·t of them).
 * @param positions each token's position (cumsum of the mask − 1)
 * @param b rows
 * @param t tokens per row
 * @returns feeds by graph input name
 */
export type PositionFeeds = (
  positions: ArrayLike<number> | BigInt64Array,
  b: number,
  t: number,
) => Record<string, ort.Tensor>;

/** GPT-2's positions: `position_ids` [b, t], looked up in its learned table. */
export const positionIdFeeds: PositionFeeds = (positions, b, t) => ({
  position_ids: positions instanceof BigInt64Array
    ? new ort.Tensor("int64", positions, [b, t])
    : int64(positions, [b, t]),
});

/** A model's longest sequence and the config field that sets it, for the error message. */
export interface PositionLimit {
  max: number;
  /** e.g. "nPositions" or "max_position_embeddings". */
  field: string;
}

/**
 * Throws when a `t`-token sequence does not fit the model.
 * @throws {RangeError} naming the length and the config field
 */
export function checkLength(t: number, limit: PositionLimit): void {
  if (t > limit.max) {
    throw new RangeError(`Sequence of ${t} tokens exceeds ${limit.field} ${limit.max}`);
  }
}

/**
 * `input_ids`, the positions' feeds and `attn_bias` [b, 1, t, t] of a left-padded block
 * with no cache (score, logits and training graphs).
 */
export function blockFeeds(
  ids: ArrayLike<number>,
  mask: Uint8Array,
  b: number,
  t: number,
  positions: PositionFeeds,
): Record<string, ort.Tensor> {
  return {
    input_ids: int64(ids, [b, t]),
    ...positions(positionIds(mask, b, t), b, t),
    attn_bias: new ort.Tensor("float32", attentionBiasData(mask, b, t, t), [b, 1, t, t]),
  };
}

/**
 * The decode session's `run` on a step graph (inputs `input_ids`, the positions, `attn_bias`,
 * `past_key.l`/`past_value.l`; outputs `last_logits`, `present_key.l`/`present_value.l`).
 * @param session the step graph's session
 * @param weights the weight feeds it is bound to
 * @param positions how positions enter the graph
 * @param cache the cached heads per layer (Llama: the key/value heads) and their width
 * @returns one decoding step: next-token logits and the grown cache
 */
export function stepRunner(
  session: ort.InferenceSession,
  weights: Record<string, ort.Tensor>,
  positions: PositionFeeds,
  cache: { heads: number; headDim: number },
): (inputs: StepInputs) => Promise<{ logits: Float32Array; cache: LayerKV[] }> {
  return async (inputs) => {
    const out = await session.run(stepFeeds(inputs, weights, positions, cache));
    return { logits: out.last_logits.data as Float32Array, cache: presentCache(out, inputs) };
  };
}

/**
 * The decode step of a step graph's sampling variant (`sample: true`): the step's feeds plus
 * the draw (temperature, uniforms, banned tokens), each row's drawn token back.
 * @param session the sampling variant's session, opened on first use
 */
function sampleRunner(
  session: () => Promise<ort.InferenceSession>,
  weights: Record<string, ort.Tensor>,
  positions: PositionFeeds,
  cache: { heads: number; headDim: number },
): (inputs: StepInputs, draw: TokenDraw) => Promise<{ tokens: Int32Array; cache: LayerKV[] }> {
  return async (inputs, draw) => {
    const feeds = {
      ...stepFeeds(inputs, weights, positions, cache),
      ...drawFeeds(draw, inputs.rows),
    };
    const out = await (await session()).run(feeds);
    return { tokens: drawnTokens(out), cache: presentCache(out, inputs) };
  };
}

/**
 * The decode step of a step graph's top-k variant (`sample: "top-k"`): each row's k largest
 * logits and their ids back instead of [rows, vocab] logits.
 * @param session the top-k variant's session, opened on first use
 */
function topKRunner(
  session: () => Promise<ort.InferenceSession>,
  weights: Record<string, ort.Tensor>,
  positions: PositionFeeds,
  cache: { heads: number; headDim: number },
): (inputs: StepInputs, k: number) => Promise<TopKStep> {
  return async (inputs, k) => {
    const feeds = { ...stepFeeds(inputs, weights, positions, cache), ...topKFeeds(k) };
    const out = await (await session()).run(feeds);
    return { ...topKOutputs(out), cache: presentCache(out, inputs) };
  };
}

/**
 * The sampling variants of a causal step graph ({@linkcode sampleRunner},
 * {@linkcode topKRunner}), each opened on first use as a decode-sized session.
 * @param sessions the engine's sessions
 * @param build the step graph with a `sample` head
 */
export function samplingVariants(
  sessions: EngineSessions<string>,
  build: (sample: "token" | "top-k") => Uint8Array,
  weights: Record<string, ort.Tensor>,
  positions: PositionFeeds,
  cache: { heads: number; headDim: number },
): Pick<OrtStepGraph, "sample" | "topKStep"> {
  const open = (sample: "token" | "top-k") => () =>
    sessions.lazy(`step-${sample}`, () => build(sample), true);
  return {
    sample: sampleRunner(open("token"), weights, positions, cache),
    topKStep: topKRunner(open("top-k"), weights, positions, cache),
  };
}

function stepFeeds(
  inputs: StepInputs,
  weights: Record<string, ort.Tensor>,
  positions: PositionFeeds,
  cache: { heads: number; headDim: number },
): Record<string, ort.Tensor> {
  const { rows, steps, past } = inputs;
  const bias = attentionBiasData(inputs.mask, rows, steps, past + steps);
  const feeds: Record<string, ort.Tensor> = {
    ...weights,
    input_ids: new ort.Tensor("int64", inputs.ids, [rows, steps]),
    ...positions(inputs.positions, rows, steps),
    attn_bias: new ort.Tensor("float32", bias, [rows, 1, steps, past + steps]),
  };
  const kv = [rows, cache.heads, past, cache.headDim];
  inputs.cache.forEach(({ k, v }, l) => {
    feeds[`past_key.${l}`] = new ort.Tensor("float32", k, kv);
    feeds[`past_value.${l}`] = new ort.Tensor("float32", v, kv);
  });
  return feeds;
}

function presentCache(out: ort.InferenceSession.ReturnType, inputs: StepInputs): LayerKV[] {
  return inputs.cache.map((_, l) => ({
    k: out[`present_key.${l}`].data as Float32Array,
    v: out[`present_value.${l}`].data as Float32Array,
  }));
}

/** Prompts and continuations laid out for a score graph. */
export interface ScoreLayout {
  /** The block's feeds ({@linkcode blockFeeds}) and `targets` [rows, width]. */
  feeds: Record<string, ort.Tensor>;
  rows: number;
  width: number;
}

/**
 * Each prompt + continuation left-padded into one block, with the next-token targets (the
 * token at t + 1; 0 past the end, never read).
 * @throws {RangeError} for an empty prompt or a sequence longer than the model's
 */
export function scoreLayout(
  prompts: number[][],
  continuations: number[][],
  padTokenId: number,
  limit: PositionLimit,
  positions: PositionFeeds,
): ScoreLayout {
  prompts.forEach((p, r) => {
    if (p.length === 0) {
      throw new RangeError(`Prompt row ${r} is empty; scoring needs at least one prompt token`);
    }
  });
  const rows = prompts.length;
  const padded = leftPad(prompts.map((p, r) => [...p, ...continuations[r]]), padTokenId);
  const width = padded.t;
  checkLength(width, limit);
  const targets = new Float64Array(rows * width);
  for (let i = 0; i + 1 < rows * width; i++) {
    if ((i + 1) % width !== 0) targets[i] = padded.ids[i + 1];
  }
  return {
    feeds: {
      ...blockFeeds(padded.ids, padded.mask, rows, width, positions),
      targets: int64(targets, [rows, width]),
    },
    rows,
    width,
  };
}

/**
 * The slices of a score graph's per-position output [rows · width · size] at the positions
 * that predict each continuation token: [T_i · size] per row.
 */
export function continuationSlices(
  data: Float32Array,
  continuations: number[][],
  width: number,
  size = 1,
): Float32Array[] {
  return continuations.map((cont, r) => {
    const first = r * width + width - cont.length - 1; // the position predicting c_0
    return data.slice(first * size, (first + cont.length) * size);
  });
}

/**
 * The feeds of a teacher-forced training forward of `batch` (the layout of
 * `continuationBatch`): the block, `predict_rows` (row n·t + p − 1 + j of the b·t positions
 * predicts continuation token j of row n) and, for the LM head, `targets`.
 */
export function trainingFeeds(
  batch: ContinuationBatch,
  positions: PositionFeeds,
  lmHead: boolean,
): Record<string, ort.Tensor> {
  const { b, t, p, tc, mask } = batch;
  const m = b * tc;
  const predictRows = new Float64Array(m);
  for (let n = 0; n < b; n++) {
    for (let j = 0; j < tc; j++) predictRows[n * tc + j] = n * t + p - 1 + j;
  }
  const feeds = {
    ...blockFeeds(batch.ids, mask, b, t, positions),
    predict_rows: int64(predictRows, [m]),
  };
  return lmHead ? { ...feeds, targets: int64(batch.targets, [m]) } : feeds;
}

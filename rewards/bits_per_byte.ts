/**
 * Bits per byte of held-out text under a causal LM: the model's negative log-likelihood of the
 * text in bits over its UTF-8 length. Unlike perplexity per token it does not depend on the
 * tokenizer, so models with different vocabularies compare.
 * @module
 */
import { causalContextLength, type CausalScorer, type Tokenizer } from "../models/types.ts";

/** Options of {@linkcode bitsPerByte}. */
export interface BitsPerByteOptions {
  /** Longest window the model sees. @default the model's `config.nPositions` */
  maxLength?: number;
  /** New tokens scored per window after the first (the rest of the window is context). @default maxLength / 2 */
  stride?: number;
  /** Windows per model call. @default 16 */
  batchSize?: number;
}

/** The part of a causal LM bits per byte needs. */
export type BitsPerByteModel = CausalScorer;

/** The windows scoring `ids[1..]`: each scores `targets` after `prompt` (the window's context). */
export function scoringWindows(
  ids: number[],
  maxLength: number,
  stride: number,
): { prompt: number[]; targets: number[] }[] {
  const windows: { prompt: number[]; targets: number[] }[] = [];
  // the first window scores tokens 1..maxLength-1; each later one `stride` tokens after a
  // context of maxLength - stride
  let first = 1;
  while (first < ids.length) {
    const end = Math.min(first === 1 ? maxLength : first + stride, ids.length);
    windows.push({
      prompt: ids.slice(Math.max(0, end - maxLength), first),
      targets: ids.slice(first, end),
    });
    first = end;
  }
  return windows;
}

/**
 * Batches of windows that fit the context once padded: a batch lays its prompts out to the
 * longest prompt and its continuations to the longest continuation, so the two maxima together
 * must stay within `maxLength`. Windows of equal prompt length go together.
 */
export function paddedBatches<W extends { prompt: number[]; targets: number[] }>(
  windows: W[],
  maxLength: number,
  batchSize: number,
): W[][] {
  const sorted = [...windows].sort((a, b) =>
    a.prompt.length - b.prompt.length || a.targets.length - b.targets.length
  );
  const batches: W[][] = [];
  let batch: W[] = [];
  let [longestPrompt, longestTargets] = [0, 0];
  for (const w of sorted) {
    const prompt = Math.max(longestPrompt, w.prompt.length);
    const targets = Math.max(longestTargets, w.targets.length);
    if (batch.length > 0 && (batch.length === batchSize || prompt + targets > maxLength)) {
      batches.push(batch);
      batch = [];
      [longestPrompt, longestTargets] = [w.prompt.length, w.targets.length];
    } else [longestPrompt, longestTargets] = [prompt, targets];
    batch.push(w);
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

/**
 * Bits per byte of `texts`: each text is tokenised after the EOS token (its start-of-text
 * context), every text token is scored with sliding windows, and the total NLL in bits is
 * divided by the texts' total UTF-8 bytes. The EOS that would end each text is not scored.
 *
 * @param texts held-out texts (none empty)
 * @param model the causal LM
 * @param tokenizer the model's tokenizer
 * @param options window and batch sizes
 * @returns bits per byte, and the totals it came from
 */
export async function bitsPerByte(
  texts: string[],
  model: BitsPerByteModel,
  tokenizer: Pick<Tokenizer, "encode" | "eosTokenId">,
  options: BitsPerByteOptions = {},
): Promise<{ bitsPerByte: number; bytes: number; tokens: number }> {
  const maxLength = options.maxLength ?? causalContextLength(model.config);
  const stride = options.stride ?? Math.max(1, Math.floor(maxLength / 2));
  const batchSize = options.batchSize ?? 16;
  if (!(Number.isInteger(stride) && stride >= 1 && stride < maxLength)) {
    throw new RangeError(`Expected an integer stride in 1..${maxLength - 1}, got ${stride}`);
  }
  const encoder = new TextEncoder();
  const windows: { prompt: number[]; targets: number[] }[] = [];
  let bytes = 0;
  for (const [i, text] of texts.entries()) {
    const size = encoder.encode(text).length;
    if (size === 0) throw new RangeError(`bitsPerByte(): text ${i} is empty`);
    bytes += size;
    windows.push(
      ...scoringWindows([tokenizer.eosTokenId, ...tokenizer.encode(text)], maxLength, stride),
    );
  }
  let nats = 0;
  let tokens = 0;
  for (const batch of paddedBatches(windows, maxLength, batchSize)) {
    const logProbs = await model.continuationLogProbs(
      batch.map((w) => w.prompt),
      batch.map((w) => w.targets),
    );
    for (const row of logProbs) {
      for (const lp of row) nats -= lp;
      tokens += row.length;
    }
  }
  if (!Number.isFinite(nats)) throw new RangeError(`bitsPerByte(): the model's NLL is ${nats}`);
  return { bitsPerByte: nats / Math.LN2 / bytes, bytes, tokens };
}

/** Whether `policy` can be scored token by token as a causal LM (a GPT, on tfjs or the engine). */
export function isCausalScorer(policy: unknown): policy is BitsPerByteModel {
  const p = policy as Partial<BitsPerByteModel> | null;
  const config = p?.config as { nPositions?: unknown; maxPositionEmbeddings?: unknown } | undefined;
  return typeof p?.continuationLogProbs === "function" &&
    (typeof config?.nPositions === "number" || typeof config?.maxPositionEmbeddings === "number");
}

/**
 * Held-out bits per byte as a metric of a model itself (`fluency/bits_per_byte`), for the
 * models that are causal LMs; others (and any model, when there are no texts) get none.
 * @param texts held-out texts no model trained on
 * @param tokenizer the models' tokenizer
 * @returns a function of a policy giving its metric, or `{}` for a policy it cannot score
 */
export function bitsPerByteMetric(
  texts: string[],
  tokenizer: Pick<Tokenizer, "encode" | "eosTokenId">,
): (policy: unknown) => Promise<Record<string, number>> {
  return async (policy): Promise<Record<string, number>> =>
    isCausalScorer(policy) && texts.length > 0
      ? { "fluency/bits_per_byte": (await bitsPerByte(texts, policy, tokenizer)).bitsPerByte }
      : {};
}

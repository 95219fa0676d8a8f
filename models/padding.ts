/**
 * Left padding on the host: the padded batch, position ids = cumsum(mask) - 1
 * clipped at 0, and the additive attention bias (causal and padding masks).
 * @module
 */
/** @ignore tfjs documents its own types; we reference them, not re-export them. */
import * as tf from "@tensorflow/tfjs-core";

/** The id put at padded positions; any valid id works since pads are masked out. */
export const PAD = 0;
/** Masked attention scores: finite, so a fully masked (pad) row stays finite. */
export const MASKED: number = -1e9;

/** A left-padded batch on the host. */
export interface Batch {
  /** [B * T] token ids, `pad` at padded positions. */
  ids: Int32Array;
  /** [B * T] attention mask: 1 on real tokens, 0 on pads. */
  mask: Uint8Array;
  /** Rows. */
  b: number;
  /** Positions per row (the longest row's length). */
  t: number;
}

/**
 * Left-pads rows to the longest one.
 * @param rows token ids per row
 * @param pad the id written at padded positions
 * @returns the padded ids and their mask
 */
export function leftPad(rows: number[][], pad: number): Batch {
  const b = rows.length;
  const t = Math.max(...rows.map((r) => r.length));
  const ids = new Int32Array(b * t).fill(pad);
  const mask = new Uint8Array(b * t);
  rows.forEach((row, i) => {
    const start = i * t + t - row.length;
    ids.set(row, start);
    mask.fill(1, start, (i + 1) * t);
  });
  return { ids, mask, b, t };
}

/** A prompt + continuation batch laid out for a teacher-forced forward. */
export interface ContinuationBatch extends Batch {
  /** Prompt width: prompts are left-padded to it. */
  p: number;
  /** Continuation width: continuations are right-padded to it. */
  tc: number;
  /** [B * Tc] the token each predicting position scores (0 at pads). */
  targets: Int32Array;
  /** [B * Tc] 1 where the row has a continuation token, 0 at pads. */
  valid: Float32Array;
}

/**
 * Lays out prompts (left-padded to P) followed by every continuation token but
 * the last (right-padded), T = P + Tc - 1 positions, so that position P-1+t
 * predicts continuation token t in every row (spec "Log-prob alignment").
 * @param prompts non-empty token rows
 * @param continuations token rows, at least one non-empty
 * @returns the batch, its targets and validity mask
 */
export function continuationBatch(
  prompts: number[][],
  continuations: number[][],
): ContinuationBatch {
  const b = prompts.length;
  const tc = Math.max(0, ...continuations.map((c) => c.length));
  const p = Math.max(...prompts.map((r) => r.length));
  const t = p + tc - 1;
  const left = leftPad(prompts, PAD);
  const ids = new Int32Array(b * t).fill(PAD);
  const mask = new Uint8Array(b * t);
  const targets = new Int32Array(b * tc);
  const valid = new Float32Array(b * tc);
  for (let i = 0; i < b; i++) {
    ids.set(left.ids.subarray(i * p, (i + 1) * p), i * t);
    mask.set(left.mask.subarray(i * p, (i + 1) * p), i * t);
    const cont = continuations[i];
    for (let j = 0; j < cont.length; j++) {
      if (j < tc - 1) {
        ids[i * t + p + j] = cont[j];
        mask[i * t + p + j] = 1;
      }
      targets[i * tc + j] = cont[j];
      valid[i * tc + j] = 1;
    }
  }
  return { ids, mask, b, t, p, tc, targets, valid };
}

/**
 * Checks that every row holds token ids of the vocabulary.
 * @param rows token rows
 * @param vocabSize the model's vocabulary size
 * @param what the rows' name in the error
 * @param allowEmpty whether a row may be empty
 */
export function checkTokenRows(
  rows: number[][],
  vocabSize: number,
  what: string,
  allowEmpty = false,
): void {
  rows.forEach((row, r) => {
    if (!allowEmpty && row.length === 0) throw new RangeError(`${what} row ${r} is empty`);
    for (const id of row) {
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
        throw new RangeError(
          `${what} row ${r} has token ${id}, expected an integer in [0, ${vocabSize})`,
        );
      }
    }
  });
}

/**
 * Position ids = cumsum(mask) - 1 per row, clipped at 0 (so pads before the
 * first real token get position 0, as the reference fixture does).
 * @param mask [B * T] attention mask
 * @param b rows
 * @param t positions per row
 * @returns [B * T] position ids
 */
export function positionIds(mask: Uint8Array, b: number, t: number): Int32Array {
  const pos = new Int32Array(b * t);
  for (let i = 0; i < b; i++) {
    let seen = 0;
    for (let j = 0; j < t; j++) {
      seen += mask[i * t + j];
      pos[i * t + j] = Math.max(seen - 1, 0);
    }
  }
  return pos;
}

/**
 * Additive attention bias [B, 1, T, Tk] on the host: 0 where query q may see key
 * j (j is a real token and not in the future), -1e9 elsewhere. The T queries are
 * the last T of the Tk keys.
 * @param keyMask [B * Tk] attention mask over all keys
 * @param b rows
 * @param t queries per row
 * @param tk keys per row
 * @returns the bias, row-major
 */
export function attentionBiasData(
  keyMask: Uint8Array,
  b: number,
  t: number,
  tk: number,
): Float32Array {
  const bias = new Float32Array(b * t * tk);
  for (let i = 0; i < b; i++) {
    for (let q = 0; q < t; q++) {
      const limit = tk - t + q; // last key this query may see
      const row = (i * t + q) * tk;
      for (let j = 0; j < tk; j++) {
        if (j > limit || keyMask[i * tk + j] === 0) bias[row + j] = MASKED;
      }
    }
  }
  return bias;
}

/**
 * {@linkcode attentionBiasData} as a tensor [B, 1, T, Tk].
 * @param keyMask [B * Tk] attention mask over all keys
 * @param b rows
 * @param t queries per row
 * @param tk keys per row
 * @returns the bias tensor (the caller disposes it)
 */
export function attentionBias(keyMask: Uint8Array, b: number, t: number, tk: number): tf.Tensor4D {
  return tf.tensor4d(attentionBiasData(keyMask, b, t, tk), [b, 1, t, tk]);
}

/**
 * The batch `logits(inputIds, attentionMask?)` runs: equal-length rows with
 * their mask, or ragged rows left-padded.
 * @param inputIds token rows
 * @param attentionMask per-position 1 (real) or 0, rows as long as `inputIds`'
 * @returns the batch
 */
export function logitsBatch(inputIds: number[][], attentionMask?: number[][]): Batch {
  if (!attentionMask) return leftPad(inputIds, PAD);
  const t = inputIds[0].length;
  if (
    attentionMask.length !== inputIds.length ||
    inputIds.some((r, i) => r.length !== t || attentionMask[i].length !== t)
  ) {
    throw new RangeError("With an attentionMask, inputIds and mask rows must all have one length");
  }
  return {
    ids: Int32Array.from(inputIds.flat()),
    mask: Uint8Array.from(attentionMask.flat()),
    b: inputIds.length,
    t,
  };
}

/**
 * Per-row logits of a flat [B, T, V] array from a {@linkcode logitsBatch}:
 * every position with a mask, else only each row's real (unpadded) ones.
 */
export function logitsRows(
  flat: Float32Array,
  inputIds: number[][],
  t: number,
  vocab: number,
  masked: boolean,
): number[][][] {
  return inputIds.map((row, i) => {
    const out: number[][] = [];
    for (let j = masked ? 0 : t - row.length; j < t; j++) {
      out.push(Array.from(flat.subarray((i * t + j) * vocab, (i * t + j + 1) * vocab)));
    }
    return out;
  });
}

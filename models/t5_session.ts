/**
 * Incremental decoding for {@linkcode T5LM}: the encoder runs once per
 * prompt at `prefill`, each decoder layer's cross-attention keys and values
 * of its output are computed then and kept, and the decoder's self-attention
 * keys and values grow by one position per `step`. Every row starts from the
 * decoder start token and its prompt's output prefix, if any; rows with
 * shorter prefixes are left-padded (masked; T5's positions are relative).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { DecodeSession } from "./decode_session.ts";
import { t5Batch, type T5CrossState, type T5KV, type T5LM } from "./t5.ts";

/** A batch of T5 decoder rows with cached self- and cross-attention keys and values. */
export class T5Session implements DecodeSession {
  /** Rows in the batch (prompts × beams). */
  readonly rows: number;
  /** The model's vocabulary size. */
  readonly vocabSize: number;
  #model: T5LM;
  #attentionMask?: number[][];
  #headT: tf.Tensor2D; // (C, V), the tied head's rescale folded in: one plain matMul per step
  #cross?: T5CrossState;
  #self: T5KV[] = [];
  #mask = new Uint8Array(0); // decoder keys so far [rows * past]

  /**
   * Opens an empty session; `prefill` then runs the encoder.
   *
   * @param model the model to decode with (its weights are read, not copied)
   * @param rows rows in the batch; a multiple of the prompts given to `prefill`
   * @param attentionMask the prompts' encoder mask, if given (else prompts are right-padded)
   */
  constructor(model: T5LM, rows: number, attentionMask?: number[][]) {
    this.#model = model;
    this.rows = rows;
    this.vocabSize = model.config.vocabSize;
    this.#attentionMask = attentionMask;
    const { weight, scale } = model.head();
    this.#headT = tf.tidy(() => tf.transpose(tf.mul(weight, scale))) as tf.Tensor2D;
  }

  /**
   * Encodes the prompts (each repeated rows / prompts times), feeds the
   * decoder start and returns the first logits [rows * V].
   */
  async prefill(prompts: number[][], prefixes?: number[][]): Promise<Float32Array> {
    const repeat = this.rows / prompts.length; // beam search: each prompt once per beam
    const rows = prompts.flatMap((p) => new Array(repeat).fill(p));
    const mask = this.#attentionMask?.flatMap((m) => new Array(repeat).fill(m));
    const batch = t5Batch(rows, this.#model.config.padTokenId, mask, "inputIds");
    this.#dispose();
    this.#cross = tf.tidy(() => {
      const encoded = this.#model.encode(batch, true); // (B*S, C)
      return this.#model.crossState(encoded, batch, true);
    });
    const { decoderStartTokenId: start, padTokenId: pad } = this.#model.config;
    const starts = Array.from({ length: this.rows }, (_, r) => [
      start,
      ...(prefixes?.[Math.floor(r / repeat)] ?? []),
    ]);
    const width = Math.max(...starts.map((row) => row.length));
    const ids = new Int32Array(this.rows * width).fill(pad);
    const decoderMask = new Uint8Array(this.rows * width);
    starts.forEach((row, r) => {
      ids.set(row, (r + 1) * width - row.length);
      decoderMask.fill(1, (r + 1) * width - row.length, (r + 1) * width);
    });
    this.#mask = new Uint8Array(0);
    return await this.#run(ids, width, decoderMask);
  }

  /** Feeds one token per row (after reordering rows by `parents`) and returns the next logits. */
  async step(tokens: Int32Array, parents?: Int32Array): Promise<Float32Array> {
    if (!this.#cross) throw new Error("T5Session.step() before prefill()");
    if (parents) this.#reorder(parents);
    return await this.#run(tokens, 1, new Uint8Array(this.rows).fill(1));
  }

  #reorder(parents: Int32Array): void {
    const oldSelf = this.#self;
    const oldCross = this.#cross!;
    [this.#self, this.#cross] = tf.tidy(() => {
      const index = tf.tensor1d(parents, "int32");
      const pick = ({ k, v }: T5KV) => ({ k: tf.gather(k, index), v: tf.gather(v, index) });
      const cross = { layers: oldCross.layers.map(pick), bias: tf.gather(oldCross.bias, index) };
      return [oldSelf.map(pick), cross] as [T5KV[], T5CrossState];
    });
    disposeKV(oldSelf);
    disposeCross(oldCross);
    const past = this.#mask.length / this.rows, mask = new Uint8Array(this.#mask.length);
    parents.forEach((p, r) => mask.set(this.#mask.subarray(p * past, (p + 1) * past), r * past));
    this.#mask = mask;
  }

  /** Feeds `steps` tokens per row (with their key mask); the last position's logits. */
  async #run(tokens: Int32Array, steps: number, newMask: Uint8Array): Promise<Float32Array> {
    const past = this.#self.length ? this.#self : undefined;
    const rows = this.rows, before = this.#mask.length / rows, keys = before + steps;
    const mask = new Uint8Array(rows * keys);
    for (let r = 0; r < rows; r++) {
      mask.set(this.#mask.subarray(r * before, (r + 1) * before), r * keys);
      mask.set(newMask.subarray(r * steps, (r + 1) * steps), r * keys + before);
    }
    this.#mask = mask;
    const { logits, caches } = tf.tidy(() => {
      const { hidden, caches } = this.#model.decode(
        tokens,
        rows,
        steps,
        mask,
        this.#cross!,
        past,
        true,
      ); // hidden (B*T, C)
      const last = steps === 1 ? hidden : tf.reshape(
        tf.slice(tf.reshape(hidden, [rows, steps, -1]), [0, steps - 1, 0], [rows, 1, -1]),
        [rows, -1],
      ) as tf.Tensor2D; // (B, C)
      return { logits: tf.matMul(last, this.#headT), caches }; // (B, V)
    });
    if (past) disposeKV(past);
    this.#self = caches;
    const data = await logits.data<"float32">();
    logits.dispose();
    return data;
  }

  #dispose(): void {
    disposeKV(this.#self);
    this.#self = [];
    if (this.#cross) disposeCross(this.#cross);
    this.#cross = undefined;
  }

  /** Frees the caches and the transposed head. */
  dispose(): void {
    this.#dispose();
    this.#headT.dispose();
  }
}

function disposeKV(caches: T5KV[]): void {
  for (const { k, v } of caches) tf.dispose([k, v]);
}

function disposeCross(cross: T5CrossState): void {
  disposeKV(cross.layers);
  cross.bias.dispose();
}

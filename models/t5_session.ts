/**
 * Incremental decoding for {@linkcode T5LM}: the encoder runs once per
 * prompt at `prefill`, each decoder layer's cross-attention keys and values
 * of its output are computed then and kept, and the decoder's self-attention
 * keys and values grow by one position per `step`. Every row starts from the
 * decoder start token, so decoder rows are never padded.
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
  async prefill(prompts: number[][]): Promise<Float32Array> {
    const repeat = this.rows / prompts.length; // beam search: each prompt once per beam
    const rows = prompts.flatMap((p) => new Array(repeat).fill(p));
    const mask = this.#attentionMask?.flatMap((m) => new Array(repeat).fill(m));
    const batch = t5Batch(rows, this.#model.config.padTokenId, mask, "inputIds");
    this.#dispose();
    this.#cross = tf.tidy(() => {
      const encoded = this.#model.encode(batch, true); // (B*S, C)
      return this.#model.crossState(encoded, batch, true);
    });
    const start = new Int32Array(this.rows).fill(this.#model.config.decoderStartTokenId);
    return await this.#run(start);
  }

  /** Feeds one token per row (after reordering rows by `parents`) and returns the next logits. */
  async step(tokens: Int32Array, parents?: Int32Array): Promise<Float32Array> {
    if (!this.#cross) throw new Error("T5Session.step() before prefill()");
    if (parents) this.#reorder(parents);
    return await this.#run(tokens);
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
  }

  async #run(tokens: Int32Array): Promise<Float32Array> {
    const past = this.#self.length ? this.#self : undefined;
    const { logits, caches } = tf.tidy(() => {
      const { hidden, caches } = this.#model.decode(
        tokens,
        this.rows,
        1,
        undefined,
        this.#cross!,
        past,
        true,
      ); // hidden (B, C)
      return { logits: tf.matMul(hidden, this.#headT), caches }; // (B, V)
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

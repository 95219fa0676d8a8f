/**
 * Incremental decoding for {@linkcode GPT2LM}: per-layer key/value caches and
 * the tied head kept transposed ([C, V]) so each step's logits are one plain
 * matMul (wasm's fast path takes no transpose flags).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { DecodeSession } from "./decode_session.ts";
import type { GPT2LM, LayerCache } from "./gpt2.ts";
import { attentionBias, leftPad, PAD, positionIds } from "./padding.ts";

/** Incremental decoding with per-layer key/value caches and a pre-transposed tied head. */
export class KVSession implements DecodeSession {
  /** Rows in the batch (prompts × beams). */
  readonly rows: number;
  /** The model's vocabulary size. */
  readonly vocabSize: number;
  #model: GPT2LM;
  #wteT: tf.Tensor2D; // (C, V): decoding multiplies by it without a transpose flag
  #caches: LayerCache[] = [];
  #mask: Uint8Array = new Uint8Array(0); // (rows, Tk)
  #seen: number[] = []; // real tokens per row so far
  #tk = 0;

  /**
   * Opens an empty session; `prefill` then fills the key/value caches.
   *
   * @param model the model to decode with (its weights are read, not copied)
   * @param rows rows in the batch; a multiple of the prompts given to `prefill`
   */
  constructor(model: GPT2LM, rows: number) {
    this.#model = model;
    this.rows = rows;
    this.vocabSize = model.config.vocabSize;
    this.#wteT = tf.tidy(() => tf.transpose(model.weights.get("wte.weight")!)) as tf.Tensor2D;
  }

  /** Runs the prompts (each repeated rows / prompts times) and returns the next logits. */
  async prefill(prompts: number[][]): Promise<Float32Array> {
    const repeat = this.rows / prompts.length; // beam search: each prompt once per beam
    const rows = prompts.flatMap((p) => new Array(repeat).fill(p));
    const batch = leftPad(rows, PAD);
    const { b, t, mask } = batch;
    this.#mask = mask;
    this.#tk = t;
    this.#seen = rows.map((r) => r.length);
    return await this.#run(batch.ids, positionIds(mask, b, t), attentionBias(mask, b, t, t), t);
  }

  /** Feeds one token per row (after reordering rows by `parents`) and returns the next logits. */
  async step(tokens: Int32Array, parents?: Int32Array): Promise<Float32Array> {
    const b = this.rows;
    const tk = this.#tk + 1;
    if (parents) this.#reorder(parents);
    const mask = new Uint8Array(b * tk);
    const positions = new Int32Array(b);
    for (let i = 0; i < b; i++) {
      mask.set(this.#mask.subarray(i * this.#tk, (i + 1) * this.#tk), i * tk);
      mask[i * tk + tk - 1] = 1;
      // A finished row is still fed (its outputs are ignored) and can run past the model's
      // positions when its prompt was long; clamping keeps it a valid lookup.
      positions[i] = Math.min(this.#seen[i]++, this.#model.config.nPositions - 1);
    }
    this.#mask = mask;
    this.#tk = tk;
    return await this.#run(tokens, positions, attentionBias(mask, b, 1, tk), 1);
  }

  #reorder(parents: Int32Array): void {
    const old = this.#caches;
    this.#caches = tf.tidy(() => {
      const index = tf.tensor1d(parents, "int32");
      return old.map(({ k, v }) => ({ k: tf.gather(k, index), v: tf.gather(v, index) }));
    });
    for (const c of old) tf.dispose([c.k, c.v]);
    const tk = this.#tk;
    const mask = new Uint8Array(this.rows * tk);
    parents.forEach((p, i) => mask.set(this.#mask.subarray(p * tk, (p + 1) * tk), i * tk));
    this.#mask = mask;
    this.#seen = Array.from(parents, (p) => this.#seen[p]);
  }

  async #run(
    ids: Int32Array,
    positions: Int32Array,
    bias: tf.Tensor4D,
    t: number,
  ): Promise<Float32Array> {
    const b = this.rows;
    const c = this.#model.config.nEmbd;
    const past = this.#caches.length ? this.#caches : undefined;
    const [logits, ...flatCaches] = tf.tidy(() => {
      const { hidden, caches } = this.#model.trunk(ids, positions, bias, past, true);
      const last = tf.slice(tf.reshape(hidden, [b, t, c]), [0, t - 1, 0], [b, 1, c]); // (B, 1, C)
      const logits = tf.matMul(tf.reshape(last, [b, c]) as tf.Tensor2D, this.#wteT); // (B, V)
      return [logits, ...caches.flatMap(({ k, v }) => [k, v])];
    });
    bias.dispose();
    if (past) { for (const p of past) tf.dispose([p.k, p.v]); }
    this.#caches = [];
    for (let i = 0; i < flatCaches.length; i += 2) {
      this.#caches.push({ k: flatCaches[i] as tf.Tensor4D, v: flatCaches[i + 1] as tf.Tensor4D });
    }
    const data = await logits.data<"float32">();
    logits.dispose();
    return data;
  }

  /** Frees the caches and the transposed head. */
  dispose(): void {
    for (const c of this.#caches) tf.dispose([c.k, c.v]);
    this.#caches = [];
    this.#wteT.dispose();
  }
}

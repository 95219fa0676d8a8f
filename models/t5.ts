/**
 * T5 on TensorFlow.js, computing what Hugging Face's
 * `T5ForConditionalGeneration` computes, in both layouts: original T5 (relu
 * MLP, tied head with the d_model^-0.5 rescale) and T5 v1.1 / flan-t5
 * (gated gelu_new MLP, untied `lm_head.weight`).
 *
 * The math, block by block (HF's modeling_t5.py): T5LayerNorm is an RMS norm
 * (`w · x / sqrt(mean(x²) + eps)`, no mean, no bias); every nn.Linear has no
 * bias (`x · Wᵀ`, W stored [out, in]); attention scores are `q · kᵀ` with no
 * 1/sqrt(d_kv) scaling, plus the relative position bias of block 0 of the
 * stack (added in every layer of it; bidirectional buckets in the encoder,
 * causal ones in the decoder; none in cross-attention), plus -1e9 at masked
 * keys (encoder pads in encoder self-attention and cross-attention; future
 * keys and decoder pads in decoder self-attention).
 *
 * Shaped after nanoGPT's model.py like models/gpt2.ts; weight names are the
 * checkpoint's (`encoder.block.0.layer.0.SelfAttention.q.weight`), exactly
 * {@linkcode t5WeightShapes}'s keys.
 * @module
 */
/** @ignore tfjs documents its own types; we reference them, not re-export them. */
import * as tf from "@tensorflow/tfjs-core";
import { WeightedModel, weightsFromHost } from "./weight_map.ts";
import { type LoraLayout, T5_LORA_LAYOUT } from "./lora.ts";
import { InputError } from "../core/errors.ts";
import type { Rng } from "../core/prng.ts";
import type { ContinuationOutputs, GenerateOptions, Seq2SeqLM } from "./types.ts";
import type { HostTensor } from "./safetensors.ts";
import { positionBuckets, type T5Config, t5WeightShapes } from "./t5_config.ts";
import { attentionBias, checkTokenRows } from "./padding.ts";
import { embedding, geluNew, lmHead, softmaxEntropy, tokenLogProbs } from "./fused_ops.ts";
import { generateWithSession } from "./generate.ts";
import { T5Session } from "./t5_session.ts";

/** Hugging Face's T5Config defaults (t5-small). */
export const T5_DEFAULTS: Readonly<T5Config> = Object.freeze({
  vocabSize: 32128,
  dModel: 512,
  dKv: 64,
  numHeads: 8,
  dFf: 2048,
  numLayers: 6,
  numDecoderLayers: 6,
  relativeAttentionNumBuckets: 32,
  relativeAttentionMaxDistance: 128,
  feedForwardProj: "relu",
  layerNormEpsilon: 1e-6,
  tieWordEmbeddings: true,
  padTokenId: 0,
  eosTokenId: 1,
  decoderStartTokenId: 0,
});

/** config.json keys (snake_case) of each T5Config field, for error messages. */
const T5_KEYS: Record<keyof T5Config, string> = {
  vocabSize: "vocab_size",
  dModel: "d_model",
  dKv: "d_kv",
  numHeads: "num_heads",
  dFf: "d_ff",
  numLayers: "num_layers",
  numDecoderLayers: "num_decoder_layers",
  relativeAttentionNumBuckets: "relative_attention_num_buckets",
  relativeAttentionMaxDistance: "relative_attention_max_distance",
  feedForwardProj: "feed_forward_proj",
  layerNormEpsilon: "layer_norm_epsilon",
  tieWordEmbeddings: "tie_word_embeddings",
  padTokenId: "pad_token_id",
  eosTokenId: "eos_token_id",
  decoderStartTokenId: "decoder_start_token_id",
};

/**
 * Checks a T5 config (sizes positive, special ids inside the vocabulary,
 * buckets that Hugging Face's bucketing can use) and fills t5-small's
 * defaults; errors name the config.json field.
 * @param config fields to set
 * @param where the file (or "config") named in errors
 * @returns a complete config
 */
export function checkT5Config(config: Partial<T5Config>, where = "config"): T5Config {
  const c: T5Config = { ...T5_DEFAULTS, ...config };
  const field = (f: keyof T5Config) => `Field "${T5_KEYS[f]}"`;
  const positive: (keyof T5Config)[] = [
    "vocabSize",
    "dModel",
    "dKv",
    "numHeads",
    "dFf",
    "numLayers",
    "numDecoderLayers",
    "relativeAttentionNumBuckets",
    "relativeAttentionMaxDistance",
  ];
  for (const key of [...positive, "padTokenId", "eosTokenId", "decoderStartTokenId"] as const) {
    const v = c[key];
    const min = positive.includes(key) ? 1 : 0;
    if (!Number.isInteger(v) || (v as number) < min) {
      throw new InputError(
        `${field(key)} must be an integer >= ${min}, got ${JSON.stringify(v)}`,
        where,
      );
    }
  }
  for (const key of ["padTokenId", "eosTokenId", "decoderStartTokenId"] as const) {
    if (c[key] >= c.vocabSize) {
      throw new InputError(
        `${field(key)} (${c[key]}) must be below ${field("vocabSize")} (${c.vocabSize})`,
        where,
      );
    }
  }
  // the encoder's bidirectional buckets use half of them, of which half are exact
  if (c.relativeAttentionNumBuckets < 4) {
    throw new InputError(`${field("relativeAttentionNumBuckets")} must be >= 4`, where);
  }
  if (c.relativeAttentionMaxDistance <= Math.floor(c.relativeAttentionNumBuckets / 2)) {
    throw new InputError(
      `${field("relativeAttentionMaxDistance")} (${c.relativeAttentionMaxDistance}) must exceed ` +
        `half of ${field("relativeAttentionNumBuckets")} (${c.relativeAttentionNumBuckets})`,
      where,
    );
  }
  if (!(typeof c.layerNormEpsilon === "number" && c.layerNormEpsilon > 0)) {
    throw new InputError(`${field("layerNormEpsilon")} must be a positive number`, where);
  }
  if (!["relu", "gated-gelu", "gated-relu"].includes(c.feedForwardProj)) {
    throw new InputError(
      `${field("feedForwardProj")} is ${
        JSON.stringify(c.feedForwardProj)
      }, expected relu, gated-gelu or gated-relu`,
      where,
    );
  }
  if (typeof c.tieWordEmbeddings !== "boolean") {
    throw new InputError(`${field("tieWordEmbeddings")} must be true or false`, where);
  }
  return c;
}

/** Keys and values of one attention: [B, nh, Tk, d_kv] each. */
export type T5KV = {
  /** Keys [B, nh, Tk, d_kv]. */
  k: tf.Tensor4D;
  /** Values [B, nh, Tk, d_kv]. */
  v: tf.Tensor4D;
};

/** The encoder side of a decoder forward: its output's keys and values per layer and its mask. */
export type T5CrossState = {
  /** Per decoder layer, EncDecAttention's keys and values of the encoder output [B, nh, S, d_kv]. */
  layers: T5KV[];
  /** [B, 1, 1, S]: 0 at real encoder tokens, -1e9 at pads. */
  bias: tf.Tensor4D;
};

/** A right-padded batch of token rows on the host. */
export interface T5Batch {
  /** [B * T] token ids (pad id at padded positions). */
  ids: Int32Array;
  /** [B * T] 1 on real tokens, 0 on pads. */
  mask: Uint8Array;
  /** Rows. */
  b: number;
  /** Positions per row. */
  t: number;
}

/**
 * Right-pads rows to the longest (T5's padding side), or takes equal-length
 * rows with their own mask.
 * @param rows token rows
 * @param pad the id written at padded positions
 * @param mask optional per-position 1/0 rows, as long as `rows`'
 * @param what the rows' name in errors
 * @returns the batch
 */
export function t5Batch(rows: number[][], pad: number, mask?: number[][], what = "rows"): T5Batch {
  const b = rows.length;
  if (mask) {
    const t = rows[0]?.length ?? 0;
    if (mask.length !== b || rows.some((r, i) => r.length !== t || mask[i].length !== t)) {
      throw new RangeError(`With a mask, ${what} and mask rows must all have one length`);
    }
    if (mask.some((r) => r.some((m) => m !== 0 && m !== 1))) {
      throw new RangeError(`The mask of ${what} must hold only 0 and 1`);
    }
    return { ids: Int32Array.from(rows.flat()), mask: Uint8Array.from(mask.flat()), b, t };
  }
  const t = Math.max(0, ...rows.map((r) => r.length));
  const ids = new Int32Array(b * t).fill(pad);
  const m = new Uint8Array(b * t);
  rows.forEach((row, i) => {
    ids.set(row, i * t);
    m.fill(1, i * t, i * t + row.length);
  });
  return { ids, mask: m, b, t };
}

/** Options of {@linkcode T5LM.generate}: {@linkcode GenerateOptions} plus an encoder mask. */
export interface T5GenerateOptions extends GenerateOptions {
  /** Encoder attention mask (rows of `inputIds` then all have one length); else rows are right-padded. */
  attentionMask?: number[][];
}

/** nn.Linear without bias, `x · Wᵀ` (W [out, in]): the same product as the tied head's. */
const linearOp = lmHead;

/**
 * A T5 encoder-decoder LM whose weights are tf.Variables named as in the checkpoint; with LoRA
 * adapters ({@linkcode WeightedModel.withLora}) only they train.
 */
export class T5LM extends WeightedModel<T5Config> implements Seq2SeqLM {
  /** Output prefixes go to the decoder. */
  readonly seq2seq = true;
  /** Which layers take LoRA adapters (nn.Linear, [out, in]) and PEFT's names for them. */
  readonly loraLayout: Readonly<LoraLayout> = T5_LORA_LAYOUT;

  /** T5LayerNorm: RMS norm, `w · x / sqrt(mean(x²) + eps)`, no mean subtraction, no bias. */
  #norm(x: tf.Tensor2D, name: string): tf.Tensor2D {
    const variance = tf.mean(tf.square(x), -1, true); // (N, 1)
    const normed = tf.mul(x, tf.rsqrt(tf.add(variance, this.config.layerNormEpsilon)));
    return tf.mul(normed, this.weight<tf.Rank.R1>(name));
  }

  /** nn.Linear without bias: x · Wᵀ with W [out, in], plus its LoRA update if it has one. */
  #linear(x: tf.Tensor2D, name: string, inference: boolean): tf.Tensor2D {
    const w = this.weight<tf.Rank.R2>(name);
    // the custom-gradient wrapper costs a scope and saved tensors per call: skip it when decoding
    const y: tf.Tensor2D = inference ? tf.matMul(x, w, false, true) : linearOp(x, w);
    const update = this.lora?.delta(name.slice(0, -".weight".length), x);
    return update ? tf.add(y, update) : y;
  }

  /** Rows of a table [n, C] at `ids`; training uses the host scatter-add gradient. */
  #lookup(name: string, ids: Int32Array, inference: boolean): tf.Tensor2D {
    const table = this.weight<tf.Rank.R2>(name);
    return inference ? tf.gather(table, tf.tensor1d(ids, "int32")) : embedding(table, ids);
  }

  /** [B*T, nh*d_kv] → [B, nh, T, d_kv]. */
  #heads(m: tf.Tensor2D, b: number, t: number): tf.Tensor4D {
    const { numHeads: nh, dKv } = this.config;
    return tf.transpose(tf.reshape(m, [b, t, nh, dKv]), [0, 2, 1, 3]);
  }

  /** One projection (q, k or v) of an attention, split into heads. */
  #project(x: tf.Tensor2D, prefix: string, p: "q" | "k" | "v", b: number, t: number, inf: boolean) {
    return this.#heads(this.#linear(x, `${prefix}.${p}.weight`, inf), b, t); // (B, nh, T, d_kv)
  }

  /** softmax(q·kᵀ + bias)·v then the output projection; no 1/sqrt(d_kv) scaling. */
  #attend(
    q: tf.Tensor4D,
    kv: T5KV,
    bias: tf.Tensor4D,
    prefix: string,
    inference: boolean,
  ): tf.Tensor2D {
    const [b, nh, tq, dKv] = q.shape;
    const scores = tf.add(tf.matMul(q, kv.k, false, true), bias); // (B, nh, Tq, Tk)
    const y = tf.matMul(tf.softmax(scores), kv.v); // (B, nh, Tq, d_kv)
    const merged = tf.reshape(tf.transpose(y, [0, 2, 1, 3]), [b * tq, nh * dKv]) as tf.Tensor2D;
    return this.#linear(merged, `${prefix}.o.weight`, inference); // (B*Tq, C)
  }

  /** The MLP: wo(relu(wi(x))), or wo(act(wi_0(x)) · wi_1(x)) when gated. */
  #mlp(x: tf.Tensor2D, prefix: string, inference: boolean): tf.Tensor2D {
    const p = `${prefix}.DenseReluDense`;
    let h: tf.Tensor2D; // (N, d_ff)
    if (this.config.feedForwardProj === "relu") {
      h = tf.relu(this.#linear(x, `${p}.wi.weight`, inference));
    } else {
      const gate = this.#linear(x, `${p}.wi_0.weight`, inference);
      const act = this.config.feedForwardProj === "gated-gelu"
        ? (inference ? geluNewInline(gate) : geluNew(gate))
        : tf.relu(gate);
      h = tf.mul(act, this.#linear(x, `${p}.wi_1.weight`, inference));
    }
    return this.#linear(h, `${p}.wo.weight`, inference);
  }

  /**
   * The relative position bias of a stack (block 0's table), [1, nh, Tq, Tk]
   * for queries at positions `offset + i` and keys at `j`.
   */
  #positionBias(
    stack: "encoder" | "decoder",
    tq: number,
    tk: number,
    offset: number,
    inference: boolean,
  ): tf.Tensor4D {
    const nh = this.config.numHeads;
    const buckets = positionBuckets(tq, tk, stack === "encoder", this.config, offset);
    const table = `${stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight`;
    const values = this.#lookup(table, buckets, inference); // (Tq*Tk, nh)
    return tf.reshape(tf.transpose(values), [1, nh, tq, tk]);
  }

  /**
   * The encoder: its final-layer-norm output [B*S, C].
   * @param batch the encoder input (mask 0 at pads)
   * @param inference true when no gradient is needed (plain ops, no custom-gradient wrappers)
   */
  encode(batch: T5Batch, inference = false): tf.Tensor2D {
    const { b, t: s } = batch;
    let x = this.#lookup("shared.weight", batch.ids, inference); // (B*S, C)
    const keyBias = attentionBias(batch.mask, b, 1, s); // (B, 1, 1, S): pads
    const position = this.#positionBias("encoder", s, s, 0, inference); // (1, nh, S, S)
    const bias = tf.add(position, keyBias) as tf.Tensor4D; // (B, nh, S, S), every layer
    for (let i = 0; i < this.config.numLayers; i++) {
      const pre = `encoder.block.${i}.layer`;
      const a = `${pre}.0.SelfAttention`;
      const h = this.#norm(x, `${pre}.0.layer_norm.weight`);
      const q = this.#project(h, a, "q", b, s, inference);
      const kv = {
        k: this.#project(h, a, "k", b, s, inference),
        v: this.#project(h, a, "v", b, s, inference),
      };
      x = tf.add(x, this.#attend(q, kv, bias, a, inference));
      x = tf.add(x, this.#mlp(this.#norm(x, `${pre}.1.layer_norm.weight`), `${pre}.1`, inference));
    }
    return this.#norm(x, "encoder.final_layer_norm.weight");
  }

  /**
   * Every decoder layer's cross-attention keys and values of an encoder
   * output, computed once per prompt, and the encoder's key mask.
   * @param encoded [B*S, C] the encoder output
   * @param batch the encoder input it came from
   * @param inference true when no gradient is needed
   */
  crossState(encoded: tf.Tensor2D, batch: T5Batch, inference = false): T5CrossState {
    const { b, t: s } = batch;
    const layers: T5KV[] = [];
    for (let i = 0; i < this.config.numDecoderLayers; i++) {
      const a = `decoder.block.${i}.layer.1.EncDecAttention`;
      layers.push({
        k: this.#project(encoded, a, "k", b, s, inference),
        v: this.#project(encoded, a, "v", b, s, inference),
      });
    }
    return { layers, bias: attentionBias(batch.mask, b, 1, s) };
  }

  /**
   * The decoder: its final-layer-norm output [B*T, C] for T new positions
   * after the Tp of `past`, and every layer's self-attention keys and values
   * of all Tp + T positions.
   * @param ids [B*T] decoder input ids
   * @param b rows
   * @param t new positions per row
   * @param selfMask [B*(Tp+T)] decoder attention mask over all positions, or undefined (all real)
   * @param cross the encoder side ({@linkcode T5LM.crossState})
   * @param past per-layer self-attention caches of the Tp earlier positions
   * @param inference true when no gradient is needed
   */
  decode(
    ids: Int32Array,
    b: number,
    t: number,
    selfMask: Uint8Array | undefined,
    cross: T5CrossState,
    past?: T5KV[],
    inference = false,
  ): { hidden: tf.Tensor2D; caches: T5KV[] } {
    const tp = past ? past[0].k.shape[2] : 0;
    const tk = tp + t;
    const mask = selfMask ?? new Uint8Array(b * tk).fill(1);
    const causal = attentionBias(mask, b, t, tk); // (B, 1, T, Tk): future keys and pads
    const position = this.#positionBias("decoder", t, tk, tp, inference); // (1, nh, T, Tk)
    const bias = tf.add(position, causal) as tf.Tensor4D; // (B, nh, T, Tk), every layer
    let x = this.#lookup("shared.weight", ids, inference); // (B*T, C)
    const caches: T5KV[] = [];
    for (let i = 0; i < this.config.numDecoderLayers; i++) {
      const pre = `decoder.block.${i}.layer`;
      // causal self-attention over the cached and the new positions
      const a = `${pre}.0.SelfAttention`;
      let h = this.#norm(x, `${pre}.0.layer_norm.weight`);
      const q = this.#project(h, a, "q", b, t, inference);
      const k = this.#project(h, a, "k", b, t, inference);
      const v = this.#project(h, a, "v", b, t, inference);
      const kv = past // (B, nh, Tk, d_kv) each
        ? { k: tf.concat([past[i].k, k], 2), v: tf.concat([past[i].v, v], 2) }
        : { k, v };
      caches.push(kv);
      x = tf.add(x, this.#attend(q, kv, bias, a, inference));
      // cross-attention to the encoder output (no position bias)
      const c = `${pre}.1.EncDecAttention`;
      h = this.#norm(x, `${pre}.1.layer_norm.weight`);
      const qc = this.#project(h, c, "q", b, t, inference);
      x = tf.add(x, this.#attend(qc, cross.layers[i], cross.bias, c, inference));
      x = tf.add(x, this.#mlp(this.#norm(x, `${pre}.2.layer_norm.weight`), `${pre}.2`, inference));
    }
    return { hidden: this.#norm(x, "decoder.final_layer_norm.weight"), caches };
  }

  /** The head's matrix [V, C] and the factor applied to the hidden states first (tied: d_model^-0.5). */
  head(): { weight: tf.Variable; scale: number } {
    return this.config.tieWordEmbeddings
      ? { weight: this.weights.get("shared.weight")!, scale: this.config.dModel ** -0.5 }
      : { weight: this.weights.get("lm_head.weight")!, scale: 1 };
  }

  /** Logits [N, V] of decoder hidden states [N, C]. */
  #logits(hidden: tf.Tensor2D, inference: boolean): tf.Tensor2D {
    const { weight, scale } = this.head();
    const h: tf.Tensor2D = scale === 1 ? hidden : tf.mul(hidden, scale);
    return inference
      ? tf.matMul(h, weight as tf.Tensor2D, false, true)
      : lmHead(h, weight as tf.Tensor2D);
  }

  /** Teacher-forced decoder hidden states [B*T, C]. */
  #forward(enc: T5Batch, dec: T5Batch, inference: boolean): tf.Tensor2D {
    const cross = this.crossState(this.encode(enc, inference), enc, inference);
    return this.decode(dec.ids, dec.b, dec.t, dec.mask, cross, undefined, inference).hidden;
  }

  #checkRows(rows: number[][], what: string, allowEmpty = false): void {
    checkTokenRows(rows, this.config.vocabSize, what, allowEmpty);
  }

  /**
   * Logits as plain arrays [batch][decoder position][vocab] of a
   * teacher-forced forward. Without masks, rows of unequal length are
   * right-padded with the pad id and each row's real positions are returned;
   * with `decoderAttentionMask`, every position is.
   * @param inputIds encoder input rows
   * @param decoderInputIds decoder input rows (usually the decoder start, then the target but its last token)
   * @param options the encoder and decoder attention masks (1 real, 0 pad)
   */
  async logits(
    inputIds: number[][],
    decoderInputIds: number[][],
    options: { attentionMask?: number[][]; decoderAttentionMask?: number[][] } = {},
  ): Promise<number[][][]> {
    if (inputIds.length !== decoderInputIds.length) {
      throw new RangeError(
        `${inputIds.length} inputIds rows but ${decoderInputIds.length} decoderInputIds rows`,
      );
    }
    this.#checkRows(inputIds, "inputIds");
    this.#checkRows(decoderInputIds, "decoderInputIds");
    if (inputIds.length === 0) return [];
    const pad = this.config.padTokenId;
    const enc = t5Batch(inputIds, pad, options.attentionMask, "inputIds");
    const dec = t5Batch(decoderInputIds, pad, options.decoderAttentionMask, "decoderInputIds");
    const logits = tf.tidy(() => this.#logits(this.#forward(enc, dec, true), true)); // (B*T, V)
    const flat = await logits.data<"float32">();
    logits.dispose();
    const v = this.config.vocabSize;
    return decoderInputIds.map((row, i) => {
      const n = options.decoderAttentionMask ? dec.t : row.length;
      const out: number[][] = [];
      for (let j = 0; j < n; j++) {
        out.push(Array.from(flat.subarray((i * dec.t + j) * v, (i * dec.t + j + 1) * v)));
      }
      return out;
    });
  }

  /**
   * The teacher-forced layout of prompts (encoder input, right-padded) and
   * continuations (decoder output): decoder inputs = [start] + continuation[:-1],
   * right-padded to Tc; position t predicts continuation token t.
   */
  #continuationBatch(prompts: number[][], continuations: number[][]) {
    if (prompts.length !== continuations.length) {
      throw new RangeError(`${prompts.length} prompts but ${continuations.length} continuations`);
    }
    this.#checkRows(prompts, "prompts");
    this.#checkRows(continuations, "continuations", true);
    const b = prompts.length;
    const tc = Math.max(0, ...continuations.map((c) => c.length));
    const { padTokenId: pad, decoderStartTokenId: start } = this.config;
    const enc = t5Batch(prompts, pad);
    const ids = new Int32Array(b * tc).fill(pad);
    const mask = new Uint8Array(b * tc);
    const targets = new Int32Array(b * tc);
    const valid = new Float32Array(b * tc);
    continuations.forEach((cont, i) => {
      if (tc === 0) return;
      ids[i * tc] = start;
      mask[i * tc] = 1; // the start is real even for an empty continuation (its output is unused)
      for (let j = 0; j < cont.length; j++) {
        if (j + 1 < tc) {
          ids[i * tc + j + 1] = cont[j];
          mask[i * tc + j + 1] = j + 1 < cont.length ? 1 : 0;
        }
        targets[i * tc + j] = cont[j];
        valid[i * tc + j] = 1;
      }
    });
    return { enc, dec: { ids, mask, b, t: tc } as T5Batch, targets, valid, b, tc };
  }

  /**
   * Differentiable decoder states at each continuation position (what a value
   * head reads), with the targets and a validity mask [B * Tc], as
   * `GPT2LM.continuationHidden` returns them. Call inside `tf.tidy` or a
   * gradient closure.
   */
  continuationHidden(
    prompts: number[][],
    continuations: number[][],
  ): { hidden: tf.Tensor3D; targets: Int32Array; valid: Float32Array } {
    const { enc, dec, targets, valid, b, tc } = this.#continuationBatch(prompts, continuations);
    const c = this.config.dModel;
    if (b === 0 || tc === 0) return { hidden: tf.zeros([b, tc, c]), targets, valid };
    const hidden = tf.tidy(() => tf.reshape(this.#forward(enc, dec, false), [b, tc, c]));
    return { hidden: hidden as tf.Tensor3D, targets, valid };
  }

  /**
   * Differentiable log-probs (and optional entropy) of continuations: the
   * prompt is the encoder input, the continuation the decoder output after
   * the decoder start. Call inside `tf.tidy` or `optimizer.minimize`.
   * @param prompts encoder input rows (non-empty)
   * @param continuations decoder output rows (right-padded internally)
   * @param options `entropy: true` also returns each step's entropy
   * @returns logProbs [B, Tc] (0 at pads), entropy [B, Tc] when asked for, and hidden [B, Tc, C]:
   *   the decoder's final-layer-norm output (before the tied head's rescale)
   */
  forwardContinuation(
    prompts: number[][],
    continuations: number[][],
    options: { entropy?: boolean } = {},
  ): ContinuationOutputs {
    const { enc, dec, targets, valid, b, tc } = this.#continuationBatch(prompts, continuations);
    const c = this.config.dModel;
    if (b === 0 || tc === 0) {
      return {
        logProbs: tf.zeros([b, tc]),
        entropy: options.entropy ? tf.zeros([b, tc]) : undefined,
        hidden: tf.zeros([b, tc, c]),
      };
    }
    const out = tf.tidy(() => {
      const hidden = this.#forward(enc, dec, false); // (B*Tc, C)
      const logits = this.#logits(hidden, false); // (B*Tc, V)
      const validMask = tf.tensor2d(valid, [b, tc]);
      const kept: tf.NamedTensorMap = {
        hidden: tf.reshape(hidden, [b, tc, c]),
        logProbs: tf.mul(tf.reshape(tokenLogProbs(logits, targets), [b, tc]), validMask),
      };
      if (options.entropy) {
        kept.entropy = tf.mul(tf.reshape(softmaxEntropy(logits), [b, tc]), validMask);
      }
      return kept;
    });
    return {
      logProbs: out.logProbs as tf.Tensor2D,
      entropy: out.entropy as tf.Tensor2D | undefined,
      hidden: out.hidden as tf.Tensor3D,
    };
  }

  /**
   * log π of each continuation token (plain arrays, one per row of its
   * length), in row chunks to bound memory; teacher forcing as
   * {@linkcode T5LM.forwardContinuation}.
   */
  async continuationLogProbs(prompts: number[][], continuations: number[][]): Promise<number[][]> {
    const tc = Math.max(1, ...continuations.map((c) => c.length));
    const chunk = Math.max(1, Math.floor(2 ** 24 / (tc * this.config.vocabSize)));
    const out: number[][] = [];
    for (let s = 0; s < prompts.length; s += chunk) {
      const p = prompts.slice(s, s + chunk);
      const cs = continuations.slice(s, s + chunk);
      const { enc, dec, targets, tc: width } = this.#continuationBatch(p, cs);
      if (width === 0) {
        cs.forEach(() => out.push([]));
        continue;
      }
      const lp = tf.tidy(() => {
        const logits = this.#logits(this.#forward(enc, dec, true), true); // (B*Tc, V)
        const logp = tf.sub(logits, tf.logSumExp(logits, 1, true));
        const flatIndex = Int32Array.from(targets, (tok, i) => i * this.config.vocabSize + tok);
        return tf.gather(tf.reshape(logp, [-1]), tf.tensor1d(flatIndex, "int32")); // (B*Tc)
      });
      const flat = await lp.data<"float32">();
      lp.dispose();
      cs.forEach((row, i) =>
        out.push(Array.from(flat.subarray(i * width, i * width + row.length)))
      );
    }
    return out;
  }

  /**
   * New decoder tokens per row (the decoder start excluded): sampling, greedy,
   * or beam search (`numBeams` > 1 without sampling); the encoder runs once per
   * prompt and the decoder reuses its self-attention cache and the prompt's
   * cross-attention keys and values.
   * @param inputIds encoder input rows (right-padded internally unless `attentionMask` is given)
   * @param options decoding options
   */
  generate(inputIds: number[][], options: T5GenerateOptions): Promise<number[][]> {
    this.#checkRows(inputIds, "inputIds");
    const mask = options.attentionMask;
    if (mask) t5Batch(inputIds, this.config.padTokenId, mask, "inputIds"); // checks the shapes
    return generateWithSession((rows) => new T5Session(this, rows, mask), inputIds, options, {
      eosTokenId: this.config.eosTokenId,
      maxLength: Infinity, // relative positions: no length limit
      seq2seq: true,
    });
  }
}

/** gelu_new as x·sigmoid(2u) (see models/fused_ops.ts), without the custom-gradient wrapper. */
function geluNewInline(x: tf.Tensor2D): tf.Tensor2D {
  const cube = tf.mul(tf.mul(x, x), x);
  const twoU = tf.mul(tf.add(x, tf.mul(cube, 0.044715)), 2 * Math.sqrt(2 / Math.PI));
  return tf.mul(x, tf.sigmoid(twoU));
}

/** What the config says each dimension of a tensor is, for shape errors. */
function shapeHint(name: string, config: T5Config): string {
  const { numHeads: h, dKv } = config;
  const inner = `num_heads × d_kv = ${h} × ${dKv} = ${h * dKv}`;
  if (/Attention\.[qkv]\.weight$/.test(name)) return ` ([${inner}, d_model])`;
  if (/Attention\.o\.weight$/.test(name)) return ` ([d_model, ${inner}])`;
  if (name.endsWith("relative_attention_bias.weight")) {
    return " ([relative_attention_num_buckets, num_heads])";
  }
  if (/\.wi(_[01])?\.weight$/.test(name)) return " ([d_ff, d_model])";
  if (name.endsWith(".wo.weight")) return " ([d_model, d_ff])";
  if (name === "shared.weight" || name === "lm_head.weight") return " ([vocab_size, d_model])";
  return " ([d_model])";
}

/**
 * Builds T5 weights from host tensors in Hugging Face's layout: checks every
 * shape against the config, accepts the encoder/decoder `embed_tokens`
 * copies of `shared.weight` (and uses one when `shared.weight` is absent),
 * ignores a tied `lm_head.weight` and the unused
 * `decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight` of
 * older checkpoints (as Hugging Face does).
 * @param config a checked config
 * @param tensors host tensors by checkpoint name
 * @param file the checkpoint named in errors
 * @returns the model (owns new variables)
 */
export function t5FromHost(
  config: T5Config,
  tensors: Map<string, HostTensor>,
  file: string,
): T5LM {
  const byName = new Map(tensors);
  const copies = ["encoder.embed_tokens.weight", "decoder.embed_tokens.weight"];
  if (!byName.has("shared.weight")) {
    const copy = copies.find((name) => byName.has(name));
    if (copy) byName.set("shared.weight", byName.get(copy)!);
  }
  for (const name of copies) byName.delete(name);
  if (config.tieWordEmbeddings) byName.delete("lm_head.weight");
  // older checkpoints (t5-base's) carry an unused cross-attention bias table; HF ignores it too
  byName.delete("decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight");
  const shapes = t5WeightShapes(config);
  const note = (name: string) => `${shapeHint(name, config)} from config.json`;
  return new T5LM(config, weightsFromHost(byName, shapes, file, note));
}

/**
 * A fresh T5 with Hugging Face's initialisation (`initializer_factor` 1):
 * `shared` and an untied `lm_head` N(0, 1); q N(0, (d_model·d_kv)^-0.5), k and
 * v N(0, d_model^-0.5), o N(0, (num_heads·d_kv)^-0.5); relative_attention_bias
 * N(0, d_model^-0.5); wi (wi_0, wi_1) N(0, d_model^-0.5), wo N(0, d_ff^-0.5);
 * layer norms 1.
 * @param config fields to override on t5-small's config
 * @param rng the stream the weights come from (each tensor from a named child)
 * @returns the model (owns its variables)
 */
export function createT5(config: Partial<T5Config>, rng: Rng): T5LM {
  const full = checkT5Config(config);
  const { dModel: d, dKv, numHeads: h, dFf } = full;
  const std = (name: string): number => {
    if (name === "shared.weight" || name === "lm_head.weight") return 1;
    if (/Attention\.q\.weight$/.test(name)) return (d * dKv) ** -0.5;
    if (/Attention\.[kv]\.weight$/.test(name)) return d ** -0.5;
    if (/Attention\.o\.weight$/.test(name)) return (h * dKv) ** -0.5;
    if (name.endsWith("relative_attention_bias.weight")) return d ** -0.5;
    if (/\.wi(_[01])?\.weight$/.test(name)) return d ** -0.5;
    if (name.endsWith(".wo.weight")) return dFf ** -0.5;
    return 0; // layer norms
  };
  const host = new Map<string, HostTensor>();
  for (const [name, shape] of t5WeightShapes(full)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    if (name.endsWith("layer_norm.weight")) data.fill(1);
    else {
      const s = std(name);
      const stream = rng.child(name);
      for (let i = 0; i < size; i++) data[i] = stream.normal() * s;
    }
    host.set(name, { shape, data });
  }
  return t5FromHost(full, host, "createT5");
}

/**
 * GPT-2 on TensorFlow.js, computing what Hugging Face's `GPT2LMHeadModel`
 * computes: learned positions, pre-LN blocks, `gelu_new`, Conv1D weights used
 * as x·W + b, a tied LM head, a causal mask plus an attention mask for left
 * padding with position ids = cumsum(mask) - 1 clipped at 0.
 *
 * Shaped after nanoGPT's model.py; weight names are the checkpoint's
 * (`h.0.attn.c_attn.weight`), so loading is a direct mapping.
 * @module
 */
/** @ignore tfjs documents its own types; we reference them, not re-export them. */
import * as tf from "@tensorflow/tfjs-core";
import { WeightedModel, weightsFromHost } from "./weight_map.ts";
import { GPT2_LORA_LAYOUT, type LoraLayout } from "./lora.ts";
import { InputError } from "../core/errors.ts";
import type { Rng } from "../core/prng.ts";
import type { CausalLM, ContinuationOutputs, GenerateOptions, GPT2Config } from "./types.ts";
import type { HostTensor } from "./safetensors.ts";
import {
  attentionBias,
  checkTokenRows,
  continuationBatch,
  logitsBatch,
  logitsRows,
  positionIds,
} from "./padding.ts";
import { KVSession } from "./kv_session.ts";
import {
  dense,
  embedding,
  geluNew,
  layerNorm,
  lmHead,
  softmaxEntropy,
  tokenLogProbs,
} from "./fused_ops.ts";
import { generateWithSession } from "./generate.ts";

/** Hugging Face's GPT2Config defaults (GPT-2 small). */
export const GPT2_DEFAULTS: Readonly<GPT2Config> = Object.freeze({
  vocabSize: 50257,
  nPositions: 1024,
  nEmbd: 768,
  nLayer: 12,
  nHead: 12,
  nInner: null,
  layerNormEpsilon: 1e-5,
  activationFunction: "gelu_new",
  initializerRange: 0.02,
  bosTokenId: 50256,
  eosTokenId: 50256,
  tieWordEmbeddings: true,
});

const ACTIVATIONS = ["gelu_new", "gelu_pytorch_tanh", "gelu", "relu"];

/**
 * Checks a config and fills Hugging Face's defaults.
 * @param config fields to set
 * @param where the file (or "config") named in errors
 * @param keys how errors name each field (config.json's snake_case keys); camelCase by default
 * @returns a complete config
 */
export function checkGPT2Config(
  config: Partial<GPT2Config>,
  where = "config",
  keys: Partial<Record<keyof GPT2Config, string>> = {},
): GPT2Config {
  const c = { ...GPT2_DEFAULTS, ...config };
  const field = (f: keyof GPT2Config) => `Field "${keys[f] ?? f}"`;
  const positive: (keyof GPT2Config)[] = ["vocabSize", "nPositions", "nEmbd", "nLayer", "nHead"];
  for (const key of [...positive, "bosTokenId", "eosTokenId"] as (keyof GPT2Config)[]) {
    const v = c[key];
    const min = positive.includes(key) ? 1 : 0;
    if (!Number.isInteger(v) || (v as number) < min) {
      throw new InputError(
        `${field(key)} must be an integer >= ${min}, got ${JSON.stringify(v)}`,
        where,
      );
    }
  }
  for (const key of ["bosTokenId", "eosTokenId"] as const) {
    if (c[key] >= c.vocabSize) {
      throw new InputError(
        `${field(key)} (${c[key]}) must be below ${field("vocabSize")} (${c.vocabSize})`,
        where,
      );
    }
  }
  if (c.nEmbd % c.nHead !== 0) {
    throw new InputError(
      `${field("nEmbd")} (${c.nEmbd}) must be divisible by ${field("nHead")} (${c.nHead})`,
      where,
    );
  }
  if (c.nInner !== null && !(Number.isInteger(c.nInner) && c.nInner > 0)) {
    throw new InputError(
      `${field("nInner")} must be null or a positive integer, got ${c.nInner}`,
      where,
    );
  }
  if (!(typeof c.layerNormEpsilon === "number" && c.layerNormEpsilon > 0)) {
    throw new InputError(`${field("layerNormEpsilon")} must be a positive number`, where);
  }
  if (!ACTIVATIONS.includes(c.activationFunction)) {
    throw new InputError(
      `${field("activationFunction")} is "${c.activationFunction}", expected one of ${
        ACTIVATIONS.join(", ")
      }`,
      where,
    );
  }
  if (c.tieWordEmbeddings !== true) {
    throw new InputError(
      `${field("tieWordEmbeddings")} must be true (only a tied LM head is supported)`,
      where,
    );
  }
  return c;
}

/**
 * The weight names and shapes of a GPT-2 (checkpoint names without the
 * `transformer.` prefix), in checkpoint order.
 * @param config the model's config
 * @returns shapes by name
 */
export function gpt2WeightShapes(config: GPT2Config): Map<string, number[]> {
  const { vocabSize: v, nPositions: p, nEmbd: c } = config;
  const inner = config.nInner ?? 4 * c;
  const shapes = new Map<string, number[]>([["wte.weight", [v, c]], ["wpe.weight", [p, c]]]);
  for (let i = 0; i < config.nLayer; i++) {
    const h = `h.${i}.`;
    shapes.set(h + "ln_1.weight", [c]).set(h + "ln_1.bias", [c]);
    shapes.set(h + "attn.c_attn.weight", [c, 3 * c]).set(h + "attn.c_attn.bias", [3 * c]);
    shapes.set(h + "attn.c_proj.weight", [c, c]).set(h + "attn.c_proj.bias", [c]);
    shapes.set(h + "ln_2.weight", [c]).set(h + "ln_2.bias", [c]);
    shapes.set(h + "mlp.c_fc.weight", [c, inner]).set(h + "mlp.c_fc.bias", [inner]);
    shapes.set(h + "mlp.c_proj.weight", [inner, c]).set(h + "mlp.c_proj.bias", [c]);
  }
  shapes.set("ln_f.weight", [c]).set("ln_f.bias", [c]);
  return shapes;
}

/** Keys and values of one layer for the tokens seen so far: [B, nh, Tk, hs] each. */
export interface LayerCache {
  /** Keys [B, nh, Tk, hs]. */
  k: tf.Tensor4D;
  /** Values [B, nh, Tk, hs]. */
  v: tf.Tensor4D;
}

/**
 * A GPT-2 language model whose weights are tf.Variables named as in the checkpoint; with LoRA
 * adapters ({@linkcode WeightedModel.withLora}) the weights are a frozen base shared by every
 * view and only the adapters train.
 */
export class GPT2LM extends WeightedModel<GPT2Config> implements CausalLM {
  /** Which layers take LoRA adapters (Conv1D, [in, out]) and PEFT's names for them. */
  readonly loraLayout: Readonly<LoraLayout> = GPT2_LORA_LAYOUT;
  #layerNorm(x: tf.Tensor2D, prefix: string, inference: boolean): tf.Tensor2D {
    if (!inference) {
      // training: the fused op, whose gradient keeps only x and per-row statistics
      return layerNorm(
        x,
        this.weight(prefix + ".weight"),
        this.weight(prefix + ".bias"),
        this.config.layerNormEpsilon,
      );
    }
    const { mean, variance } = tf.moments(x, -1, true);
    const normed = tf.mul(
      tf.sub(x, mean),
      tf.rsqrt(tf.add(variance, this.config.layerNormEpsilon)),
    );
    return tf.add(tf.mul(normed, this.weight(prefix + ".weight")), this.weight(prefix + ".bias"));
  }

  #activation(x: tf.Tensor2D, inference: boolean): tf.Tensor2D {
    switch (this.config.activationFunction) {
      case "gelu":
        return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
      case "relu":
        return tf.relu(x);
      default: {
        // gelu_new as x·sigmoid(2u): wasm's Tanh is a scalar loop about 4x slower than its
        // Sigmoid; x³ as x·x·x because wasm's Pow is slower still. Training uses the fused op,
        // whose gradient saves only x (models/fused_ops.ts); decoding skips its wrapper.
        if (!inference) return geluNew(x);
        const cube = tf.mul(tf.mul(x, x), x);
        const twoU = tf.mul(tf.add(x, tf.mul(cube, 0.044715)), 2 * Math.sqrt(2 / Math.PI));
        return tf.mul(x, tf.sigmoid(twoU));
      }
    }
  }

  #linear(x: tf.Tensor2D, prefix: string, inference: boolean): tf.Tensor2D {
    const w = this.weight<tf.Rank.R2>(prefix + ".weight");
    const b = this.weight<tf.Rank.R1>(prefix + ".bias");
    // the custom-gradient wrapper costs a scope and saved tensors per call: skip it when decoding
    const y: tf.Tensor2D = inference ? tf.add(tf.matMul(x, w), b) : dense(x, w, b);
    const update = this.lora?.delta(prefix, x);
    return update ? tf.add(y, update) : y;
  }

  #embed(table: string, ids: Int32Array, inference: boolean): tf.Tensor2D {
    const w = this.weight<tf.Rank.R2>(table);
    return inference ? tf.gather(w, tf.tensor1d(ids, "int32")) : embedding(w, ids);
  }

  #attention(
    x: tf.Tensor2D,
    i: number,
    b: number,
    t: number,
    bias: tf.Tensor4D,
    past: LayerCache | undefined,
    inference: boolean,
  ) {
    const { nEmbd: c, nHead: nh } = this.config;
    const hs = c / nh;
    const qkv = this.#linear(x, `h.${i}.attn.c_attn`, inference); // (B*T, 3C)
    const heads = (m: tf.Tensor2D) => tf.transpose(tf.reshape(m, [b, t, nh, hs]), [0, 2, 1, 3]); // (B, nh, T, hs)
    const [q, kNew, vNew] = tf.split(qkv, 3, 1).map((m) =>
      heads(m as tf.Tensor2D)
    ) as tf.Tensor4D[];
    const k = past ? tf.concat([past.k, kNew], 2) : kNew; // (B, nh, Tk, hs)
    const v = past ? tf.concat([past.v, vNew], 2) : vNew;
    const scores = tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(hs)), bias); // (B, nh, T, Tk)
    const y = tf.matMul(tf.softmax(scores), v); // (B, nh, T, hs)
    const merged = tf.reshape(tf.transpose(y, [0, 2, 1, 3]), [b * t, c]) as tf.Tensor2D; // (B*T, C)
    return { y: this.#linear(merged, `h.${i}.attn.c_proj`, inference), cache: { k, v } };
  }

  /**
   * The transformer trunk: hidden states after ln_f, [B*T, C].
   * @param ids [B*T] token ids
   * @param positions [B*T] position ids
   * @param bias [B, 1, T, Tk] attention bias
   * @param past per-layer caches of the Tk - T earlier tokens
   * @param inference true when no gradient is needed (plain ops, no custom-gradient wrappers)
   * @returns the hidden states and every layer's keys and values (all tokens so far)
   */
  trunk(
    ids: Int32Array,
    positions: Int32Array,
    bias: tf.Tensor4D,
    past?: LayerCache[],
    inference = false,
  ): { hidden: tf.Tensor2D; caches: LayerCache[] } {
    const [b, , t] = bias.shape;
    let x: tf.Tensor2D = tf.add(
      this.#embed("wte.weight", ids, inference),
      this.#embed("wpe.weight", positions, inference),
    ); // (B*T, C)
    const caches: LayerCache[] = [];
    for (let i = 0; i < this.config.nLayer; i++) {
      const h = `h.${i}.`;
      const ln1 = this.#layerNorm(x, h + "ln_1", inference);
      const attn = this.#attention(ln1, i, b, t, bias, past?.[i], inference);
      caches.push(attn.cache);
      x = tf.add(x, attn.y);
      const ln2 = this.#layerNorm(x, h + "ln_2", inference);
      const fc = this.#activation(this.#linear(ln2, h + "mlp.c_fc", inference), inference);
      x = tf.add(x, this.#linear(fc, h + "mlp.c_proj", inference));
    }
    return { hidden: this.#layerNorm(x, "ln_f", inference), caches };
  }

  #checkRows(rows: number[][], what: string, allowEmpty = false): void {
    checkTokenRows(rows, this.config.vocabSize, what, allowEmpty);
  }

  #checkLength(t: number): void {
    if (t > this.config.nPositions) {
      throw new RangeError(`Sequence of ${t} tokens exceeds nPositions ${this.config.nPositions}`);
    }
  }

  /** Logits as plain arrays; rows of unequal length are left-padded and returned unpadded. */
  async logits(inputIds: number[][], attentionMask?: number[][]): Promise<number[][][]> {
    this.#checkRows(inputIds, "inputIds");
    const batch = logitsBatch(inputIds, attentionMask);
    const { b, t, mask } = batch;
    this.#checkLength(t);
    const logits = tf.tidy(() => {
      const bias = attentionBias(mask, b, t, t);
      const { hidden } = this.trunk(batch.ids, positionIds(mask, b, t), bias, undefined, true);
      return lmHead(hidden, this.weight("wte.weight"));
    });
    const flat = await logits.data<"float32">();
    logits.dispose();
    return logitsRows(flat, inputIds, t, this.config.vocabSize, attentionMask !== undefined);
  }

  /**
   * Differentiable final hidden states at the positions that predict each
   * continuation token (spec "Log-prob alignment": position P-1+t predicts
   * token t, prompts left-padded to P); the value head reads the same rows.
   * @param prompts non-empty token rows
   * @param continuations token rows (right-padded internally)
   * @returns hidden [B, Tc, C], the targets [B*Tc] (0 at pads) and a validity mask [B*Tc]
   */
  continuationHidden(
    prompts: number[][],
    continuations: number[][],
  ): { hidden: tf.Tensor3D; targets: Int32Array; valid: Float32Array } {
    if (prompts.length !== continuations.length) {
      throw new RangeError(`${prompts.length} prompts but ${continuations.length} continuations`);
    }
    this.#checkRows(prompts, "prompts");
    this.#checkRows(continuations, "continuations", true);
    const b = prompts.length;
    const tc = Math.max(0, ...continuations.map((c) => c.length));
    const c = this.config.nEmbd;
    if (b === 0 || tc === 0) {
      return {
        hidden: tf.zeros([b, tc, c]),
        targets: new Int32Array(b * tc),
        valid: new Float32Array(b * tc),
      };
    }
    const { ids, mask, t, p, targets, valid } = continuationBatch(prompts, continuations);
    this.#checkLength(t);
    const hidden = tf.tidy(() => {
      const { hidden } = this.trunk(ids, positionIds(mask, b, t), attentionBias(mask, b, t, t));
      return tf.slice(tf.reshape(hidden, [b, t, c]), [0, p - 1, 0], [b, tc, c]); // (B, Tc, C)
    }) as tf.Tensor3D;
    return { hidden, targets, valid };
  }

  /** Differentiable log-probs (and optional entropy) of continuations; see {@linkcode CausalLM}. */
  forwardContinuation(
    prompts: number[][],
    continuations: number[][],
    options: { entropy?: boolean } = {},
  ): ContinuationOutputs {
    const { hidden, targets, valid } = this.continuationHidden(prompts, continuations);
    const [b, tc, c] = hidden.shape;
    if (b === 0 || tc === 0) {
      return {
        logProbs: tf.zeros([b, tc]),
        entropy: options.entropy ? tf.zeros([b, tc]) : undefined,
        hidden,
      };
    }
    const out = tf.tidy(() => {
      const logits = lmHead(tf.reshape(hidden, [b * tc, c]), this.weight("wte.weight")); // (B*Tc, V)
      const validMask = tf.tensor2d(valid, [b, tc]);
      const kept: tf.NamedTensorMap = {
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
      hidden,
    };
  }

  /** Per-token log-probs of each continuation (plain arrays), in row chunks to bound memory. */
  async continuationLogProbs(prompts: number[][], continuations: number[][]): Promise<number[][]> {
    const tc = Math.max(1, ...continuations.map((c) => c.length));
    const chunk = Math.max(1, Math.floor(2 ** 24 / (tc * this.config.vocabSize)));
    const out: number[][] = [];
    for (let s = 0; s < prompts.length; s += chunk) {
      const p = prompts.slice(s, s + chunk);
      const c = continuations.slice(s, s + chunk);
      const lp = tf.tidy(() => this.forwardContinuation(p, c).logProbs);
      const flat = await lp.data<"float32">();
      const width = lp.shape[1];
      lp.dispose();
      c.forEach((row, i) => out.push(Array.from(flat.subarray(i * width, i * width + row.length))));
    }
    return out;
  }

  /** New tokens per row: sampling, greedy, or beam search (`numBeams` > 1 without sampling). */
  generate(inputIds: number[][], options: GenerateOptions): Promise<number[][]> {
    this.#checkRows(inputIds, "inputIds");
    return generateWithSession((rows) => new KVSession(this, rows), inputIds, options, {
      eosTokenId: this.config.eosTokenId,
      maxLength: this.config.nPositions,
    });
  }
}

/**
 * Builds GPT-2 weights from host tensors: checks every shape, accepts names
 * with or without `transformer.`, ignores the attention-mask buffers and a
 * tied `lm_head.weight`.
 * @param config a checked config
 * @param tensors host tensors by checkpoint name
 * @param file the checkpoint named in errors
 * @returns the model (owns new variables)
 */
export function gpt2FromHost(
  config: GPT2Config,
  tensors: Map<string, HostTensor>,
  file: string,
): GPT2LM {
  const byName = new Map<string, HostTensor>();
  for (const [raw, t] of tensors) {
    const name = raw.startsWith("transformer.") ? raw.slice("transformer.".length) : raw;
    if (/^h\.\d+\.attn\.(masked_)?bias$/.test(name) || name === "lm_head.weight") continue;
    byName.set(name, t);
  }
  const shapes = gpt2WeightShapes(config);
  return new GPT2LM(config, weightsFromHost(byName, shapes, file));
}

/**
 * A fresh GPT-2 with Hugging Face's initialisation: weights and embeddings
 * N(0, initializerRange), the residual projections (`c_proj`) scaled by
 * 1/√(2·nLayer), LayerNorm gain 1 and bias 0, biases 0. BOS and EOS
 * default to the last id when the vocabulary is smaller than GPT-2's.
 * @param config fields to override on GPT-2 small's config
 * @param rng the stream the weights come from (each tensor from a named child)
 * @returns the model (owns its variables)
 */
export function createGPT2(config: Partial<GPT2Config>, rng: Rng): GPT2LM {
  // a small vocabulary gets its last id as BOS/EOS unless told otherwise
  const last = (config.vocabSize ?? GPT2_DEFAULTS.vocabSize) - 1;
  const special = {
    bosTokenId: Math.min(last, GPT2_DEFAULTS.bosTokenId),
    eosTokenId: Math.min(last, GPT2_DEFAULTS.eosTokenId),
  };
  const full = checkGPT2Config({ ...special, ...config });
  const host = new Map<string, HostTensor>();
  for (const [name, shape] of gpt2WeightShapes(full)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    if (/ln_\w+\.weight$/.test(name)) data.fill(1);
    else if (name.endsWith(".weight")) {
      const scale = /c_proj\.weight$/.test(name) ? 1 / Math.sqrt(2 * full.nLayer) : 1;
      const std = full.initializerRange * scale;
      const stream = rng.child(name);
      for (let i = 0; i < size; i++) data[i] = stream.normal() * std;
    }
    host.set(name, { shape, data });
  }
  return gpt2FromHost(full, host, "createGPT2");
}

/**
 * T5's hyperparameters, Hugging Face weight names and relative position
 * buckets, shared by the TensorFlow.js model and the engine's graphs.
 *
 * Both layouts people use: original T5 (t5-base: `feed_forward_proj` "relu",
 * tied embeddings with the d_model^-0.5 rescale before the head) and T5 v1.1 /
 * flan-t5 ("gated-gelu": `wi_0`, `wi_1`, gelu_new; untied `lm_head.weight`).
 * @module
 */
import { InputError } from "../core/errors.ts";

/** The MLP of each block: relu (original T5) or gated gelu_new (v1.1, flan-t5), or gated relu. */
export type T5FeedForward = "relu" | "gated-gelu" | "gated-relu";

/** T5ForConditionalGeneration's hyperparameters (Hugging Face's T5Config, camel-cased). */
export interface T5Config {
  /** Vocabulary size V. */
  vocabSize: number;
  /** Model width d_model. */
  dModel: number;
  /** Width of one attention head d_kv. */
  dKv: number;
  /** Attention heads per layer. */
  numHeads: number;
  /** Width of the MLP's hidden layer. */
  dFf: number;
  /** Encoder blocks. */
  numLayers: number;
  /** Decoder blocks. */
  numDecoderLayers: number;
  /** Relative position buckets. */
  relativeAttentionNumBuckets: number;
  /** Distance beyond which positions share the last bucket. */
  relativeAttentionMaxDistance: number;
  /** The MLP's form. */
  feedForwardProj: T5FeedForward;
  /** T5LayerNorm's epsilon. */
  layerNormEpsilon: number;
  /** Whether the head is `shared.weight` (with the d_model^-0.5 rescale) or its own `lm_head.weight`. */
  tieWordEmbeddings: boolean;
  /** Padding id (encoder and decoder). */
  padTokenId: number;
  /** End-of-sequence id. */
  eosTokenId: number;
  /** The decoder's first input id. */
  decoderStartTokenId: number;
}

const FEED_FORWARD: Record<string, T5FeedForward> = {
  "relu": "relu",
  "gated-gelu": "gated-gelu",
  "gated-relu": "gated-relu",
};

/**
 * A T5Config from a Hugging Face config.json object (field names as HF writes
 * them); `file` names the file in errors.
 */
export function t5ConfigFromHF(json: Record<string, unknown>, file = "config.json"): T5Config {
  const int = (key: string, fallback?: number): number => {
    const value = json[key] ?? fallback;
    if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
      throw new InputError(
        `"${key}" must be a non-negative integer, got ${JSON.stringify(value)}`,
        file,
      );
    }
    return value;
  };
  const proj = String(json.feed_forward_proj ?? "relu");
  const feedForwardProj = FEED_FORWARD[proj];
  if (!feedForwardProj) {
    throw new InputError(
      `unknown "feed_forward_proj" ${
        JSON.stringify(proj)
      }; expected relu, gated-gelu or gated-relu`,
      file,
    );
  }
  const numLayers = int("num_layers");
  return {
    vocabSize: int("vocab_size"),
    dModel: int("d_model"),
    dKv: int("d_kv"),
    numHeads: int("num_heads"),
    dFf: int("d_ff"),
    numLayers,
    numDecoderLayers: int("num_decoder_layers", numLayers),
    relativeAttentionNumBuckets: int("relative_attention_num_buckets", 32),
    relativeAttentionMaxDistance: int("relative_attention_max_distance", 128),
    feedForwardProj,
    layerNormEpsilon: typeof json.layer_norm_epsilon === "number" ? json.layer_norm_epsilon : 1e-6,
    tieWordEmbeddings: json.tie_word_embeddings !== false,
    padTokenId: int("pad_token_id", 0),
    eosTokenId: int("eos_token_id", 1),
    decoderStartTokenId: int("decoder_start_token_id", int("pad_token_id", 0)),
  };
}

/** The config as Hugging Face's config.json writes it. */
export function t5ConfigToHF(config: T5Config): Record<string, unknown> {
  return {
    architectures: ["T5ForConditionalGeneration"],
    model_type: "t5",
    vocab_size: config.vocabSize,
    d_model: config.dModel,
    d_kv: config.dKv,
    num_heads: config.numHeads,
    d_ff: config.dFf,
    num_layers: config.numLayers,
    num_decoder_layers: config.numDecoderLayers,
    relative_attention_num_buckets: config.relativeAttentionNumBuckets,
    relative_attention_max_distance: config.relativeAttentionMaxDistance,
    feed_forward_proj: config.feedForwardProj,
    dense_act_fn: config.feedForwardProj === "gated-gelu" ? "gelu_new" : "relu",
    is_gated_act: config.feedForwardProj !== "relu",
    layer_norm_epsilon: config.layerNormEpsilon,
    tie_word_embeddings: config.tieWordEmbeddings,
    pad_token_id: config.padTokenId,
    eos_token_id: config.eosTokenId,
    decoder_start_token_id: config.decoderStartTokenId,
    is_encoder_decoder: true,
    torch_dtype: "float32",
  };
}

/**
 * Every weight of a T5ForConditionalGeneration by its Hugging Face name, with
 * its shape (nn.Linear weights are [out, in]). The encoder/decoder
 * `embed_tokens` copies of `shared.weight` are not listed; `lm_head.weight`
 * only when the head is untied.
 */
export function t5WeightShapes(config: T5Config): Map<string, number[]> {
  const { vocabSize: v, dModel: d, dKv, numHeads: h, dFf: ff } = config;
  const inner = h * dKv;
  const shapes = new Map<string, number[]>([["shared.weight", [v, d]]]);
  const attention = (prefix: string, relative: boolean) => {
    for (const p of ["q", "k", "v"]) shapes.set(`${prefix}.${p}.weight`, [inner, d]);
    shapes.set(`${prefix}.o.weight`, [d, inner]);
    if (relative) {
      shapes.set(`${prefix}.relative_attention_bias.weight`, [
        config.relativeAttentionNumBuckets,
        h,
      ]);
    }
  };
  const mlp = (prefix: string) => {
    if (config.feedForwardProj === "relu") {
      shapes.set(`${prefix}.DenseReluDense.wi.weight`, [ff, d]);
    } else {
      shapes.set(`${prefix}.DenseReluDense.wi_0.weight`, [ff, d]);
      shapes.set(`${prefix}.DenseReluDense.wi_1.weight`, [ff, d]);
    }
    shapes.set(`${prefix}.DenseReluDense.wo.weight`, [d, ff]);
    shapes.set(`${prefix}.layer_norm.weight`, [d]);
  };
  for (let i = 0; i < config.numLayers; i++) {
    const b = `encoder.block.${i}.layer`;
    attention(`${b}.0.SelfAttention`, i === 0);
    shapes.set(`${b}.0.layer_norm.weight`, [d]);
    mlp(`${b}.1`);
  }
  shapes.set("encoder.final_layer_norm.weight", [d]);
  for (let i = 0; i < config.numDecoderLayers; i++) {
    const b = `decoder.block.${i}.layer`;
    attention(`${b}.0.SelfAttention`, i === 0);
    shapes.set(`${b}.0.layer_norm.weight`, [d]);
    attention(`${b}.1.EncDecAttention`, false);
    shapes.set(`${b}.1.layer_norm.weight`, [d]);
    mlp(`${b}.2`);
  }
  shapes.set("decoder.final_layer_norm.weight", [d]);
  if (!config.tieWordEmbeddings) shapes.set("lm_head.weight", [v, d]);
  return shapes;
}

/**
 * Hugging Face's T5Attention._relative_position_bucket for one relative
 * position (key − query), in float32 like PyTorch so bucket edges agree.
 */
export function relativePositionBucket(
  relativePosition: number,
  bidirectional: boolean,
  numBuckets: number,
  maxDistance: number,
): number {
  let bucket = 0;
  let n = numBuckets;
  let position: number;
  if (bidirectional) {
    n = Math.floor(n / 2);
    if (relativePosition > 0) bucket += n;
    position = Math.abs(relativePosition);
  } else {
    position = -Math.min(relativePosition, 0);
  }
  const maxExact = Math.floor(n / 2);
  if (position < maxExact) return bucket + position;
  const f = Math.fround;
  const scaled = f(
    f(f(Math.log(f(position / maxExact))) / f(Math.log(maxDistance / maxExact))) * (n - maxExact),
  );
  return bucket + Math.min(maxExact + Math.trunc(scaled), n - 1);
}

/**
 * Buckets [queries, keys] (row-major) for queries at positions
 * `queryOffset + i` attending to keys at positions `j`: bidirectional for the
 * encoder, causal (decoder self-attention).
 */
export function positionBuckets(
  queries: number,
  keys: number,
  bidirectional: boolean,
  config: Pick<T5Config, "relativeAttentionNumBuckets" | "relativeAttentionMaxDistance">,
  queryOffset = 0,
): Int32Array {
  const out = new Int32Array(queries * keys);
  for (let i = 0; i < queries; i++) {
    for (let j = 0; j < keys; j++) {
      out[i * keys + j] = relativePositionBucket(
        j - (queryOffset + i),
        bidirectional,
        config.relativeAttentionNumBuckets,
        config.relativeAttentionMaxDistance,
      );
    }
  }
  return out;
}

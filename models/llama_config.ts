/**
 * The Llama family's configuration as Hugging Face's `LlamaConfig` (and `Qwen2Config`,
 * `MistralConfig` without sliding windows) defines it: checked, with defaults filled, the weight
 * names and shapes a checkpoint must hold, and the rotary position tables (RoPE with
 * `rope_theta`, optionally Llama 3's `rope_scaling`) computed on the host.
 * @module
 */
import { InputError } from "../core/errors.ts";

/** Llama 3's frequency-dependent RoPE scaling (`rope_scaling.rope_type` "llama3"). */
export interface Llama3RopeScaling {
  /** How much slower the low frequencies turn (`factor`). */
  factor: number;
  /** Wavelengths beyond original / this are slowed whole (`low_freq_factor`). */
  lowFreqFactor: number;
  /** Wavelengths below original / this are kept (`high_freq_factor`). */
  highFreqFactor: number;
  /** The context the model was trained with (`original_max_position_embeddings`). */
  originalMaxPositionEmbeddings: number;
}

/** A Llama-family model's hyperparameters. */
export interface LlamaConfig {
  /** "llama", "qwen2" or "mistral". */
  modelType: string;
  /** Vocabulary size. */
  vocabSize: number;
  /** Width d of the residual stream. */
  hiddenSize: number;
  /** Width of the MLP's gate and up projections. */
  intermediateSize: number;
  /** Decoder layers. */
  numHiddenLayers: number;
  /** Query heads. */
  numAttentionHeads: number;
  /** Key/value heads (grouped-query attention): each serves numAttentionHeads / this heads. */
  numKeyValueHeads: number;
  /** Width of one head (`head_dim`, else hidden_size / num_attention_heads). */
  headDim: number;
  /** RMSNorm's epsilon. */
  rmsNormEps: number;
  /** RoPE's base. */
  ropeTheta: number;
  /** Llama 3's RoPE scaling, or null. */
  ropeScaling: Llama3RopeScaling | null;
  /** The longest sequence the positions serve. */
  maxPositionEmbeddings: number;
  /** The head is the embedding matrix (else `lm_head.weight`). */
  tieWordEmbeddings: boolean;
  /** q, k, v projections have biases (Qwen2 always; Llama when `attention_bias`). */
  attentionBias: boolean;
  /** The MLP's projections have biases (`mlp_bias`). */
  mlpBias: boolean;
  /** Beginning-of-sequence id. */
  bosTokenId: number;
  /** End-of-sequence id. */
  eosTokenId: number;
  /** The id written at padded positions (the mask hides them): `pad_token_id`, else EOS. */
  padTokenId: number;
}

/** The `model_type`s read as the Llama family. */
export const LLAMA_MODEL_TYPES = ["llama", "qwen2", "mistral"];

/**
 * Reads a Hugging Face config.json of the Llama family.
 * @param json the parsed file
 * @param file the file, named in errors
 * @returns the checked config
 * @throws {InputError} naming the file and the field that is wrong
 */
export function llamaConfigFromHF(json: Record<string, unknown>, file: string): LlamaConfig {
  const modelType = json.model_type as string;
  if (!LLAMA_MODEL_TYPES.includes(modelType)) {
    throw new InputError(
      `Field "model_type" is ${JSON.stringify(modelType)}, expected one of ${
        LLAMA_MODEL_TYPES.join(", ")
      }`,
      file,
    );
  }
  const int = (key: string, fallback?: number, min = 1): number => {
    const v = json[key] ?? fallback;
    if (!Number.isInteger(v) || (v as number) < min) {
      throw new InputError(
        `Field "${key}" must be an integer >= ${min}, got ${JSON.stringify(json[key])}`,
        file,
      );
    }
    return v as number;
  };
  const positive = (key: string, fallback: number): number => {
    const v = json[key] ?? fallback;
    if (!(typeof v === "number" && v > 0)) {
      throw new InputError(
        `Field "${key}" must be a positive number, got ${JSON.stringify(json[key])}`,
        file,
      );
    }
    return v;
  };
  const id = (key: string, fallback: number) => {
    const v = json[key];
    const value = Array.isArray(v) ? v[0] : v ?? fallback;
    if (!Number.isInteger(value) || value < 0) {
      throw new InputError(`Field "${key}" must be a token id, got ${JSON.stringify(v)}`, file);
    }
    return value as number;
  };
  const heads = int("num_attention_heads");
  const kvHeads = int("num_key_value_heads", heads);
  if (heads % kvHeads !== 0) {
    throw new InputError(
      `Field "num_key_value_heads" (${kvHeads}) must divide "num_attention_heads" (${heads})`,
      file,
    );
  }
  const hidden = int("hidden_size");
  if (json.head_dim === undefined && hidden % heads !== 0) {
    throw new InputError(
      `Field "hidden_size" (${hidden}) is not a multiple of "num_attention_heads" (${heads}); ` +
        'give "head_dim"',
      file,
    );
  }
  const headDim = int("head_dim", Math.floor(hidden / heads));
  if (headDim % 2 !== 0) {
    throw new InputError(`Field "head_dim" (${headDim}) must be even for RoPE`, file);
  }
  const act = json.hidden_act ?? "silu";
  if (act !== "silu") {
    throw new InputError(`Field "hidden_act" is ${JSON.stringify(act)}, expected "silu"`, file);
  }
  if (
    modelType === "mistral" && json.sliding_window !== undefined && json.sliding_window !== null
  ) {
    const window = json.sliding_window as number;
    const max = int("max_position_embeddings", 2048);
    if (window < max) {
      throw new InputError(
        `Field "sliding_window" (${window}) is below "max_position_embeddings" (${max}); ` +
          "sliding-window attention is not supported",
        file,
      );
    }
  }
  const vocabSize = int("vocab_size");
  const eos = id("eos_token_id", 0);
  const config: LlamaConfig = {
    modelType,
    vocabSize,
    hiddenSize: hidden,
    intermediateSize: int("intermediate_size"),
    numHiddenLayers: int("num_hidden_layers"),
    numAttentionHeads: heads,
    numKeyValueHeads: kvHeads,
    headDim,
    rmsNormEps: positive("rms_norm_eps", 1e-6),
    ropeTheta: positive("rope_theta", 10000),
    ropeScaling: ropeScaling(json.rope_scaling, file),
    maxPositionEmbeddings: int("max_position_embeddings", 2048),
    // Hugging Face's default is an untied head for all three
    tieWordEmbeddings: json.tie_word_embeddings === true,
    attentionBias: modelType === "qwen2" || json.attention_bias === true,
    mlpBias: json.mlp_bias === true,
    bosTokenId: id("bos_token_id", eos),
    eosTokenId: eos,
    padTokenId: json.pad_token_id === null || json.pad_token_id === undefined
      ? eos
      : id("pad_token_id", eos),
  };
  for (const [key, value] of [["bos_token_id", config.bosTokenId], ["eos_token_id", eos]]) {
    if ((value as number) >= vocabSize) {
      throw new InputError(
        `Field "${key}" (${value}) must be below "vocab_size" (${vocabSize})`,
        file,
      );
    }
  }
  return config;
}

function ropeScaling(value: unknown, file: string): Llama3RopeScaling | null {
  if (value === null || value === undefined) return null;
  const v = value as Record<string, unknown>;
  const type = v.rope_type ?? v.type;
  if (type === "default") return null;
  if (type !== "llama3") {
    throw new InputError(
      `Field "rope_scaling" has type ${JSON.stringify(type)}; supported: "llama3" (or none)`,
      file,
    );
  }
  const num = (key: string) => {
    if (!(typeof v[key] === "number" && (v[key] as number) > 0)) {
      throw new InputError(`Field "rope_scaling.${key}" must be a positive number`, file);
    }
    return v[key] as number;
  };
  return {
    factor: num("factor"),
    lowFreqFactor: num("low_freq_factor"),
    highFreqFactor: num("high_freq_factor"),
    originalMaxPositionEmbeddings: num("original_max_position_embeddings"),
  };
}

/**
 * The weight names and shapes of a Llama-family checkpoint (Hugging Face's names, `model.`
 * prefix included; `lm_head.weight` only when the head is untied).
 * @param config the model's config
 * @returns shapes by name, in checkpoint order
 */
export function llamaWeightShapes(config: LlamaConfig): Map<string, number[]> {
  const { hiddenSize: d, intermediateSize: ff, headDim: hd } = config;
  const q = config.numAttentionHeads * hd;
  const kv = config.numKeyValueHeads * hd;
  const shapes = new Map<string, number[]>([["model.embed_tokens.weight", [config.vocabSize, d]]]);
  for (let l = 0; l < config.numHiddenLayers; l++) {
    const p = `model.layers.${l}.`;
    shapes.set(`${p}input_layernorm.weight`, [d]);
    for (const [name, out] of [["q_proj", q], ["k_proj", kv], ["v_proj", kv]] as const) {
      shapes.set(`${p}self_attn.${name}.weight`, [out, d]);
      if (config.attentionBias) shapes.set(`${p}self_attn.${name}.bias`, [out]);
    }
    shapes.set(`${p}self_attn.o_proj.weight`, [d, q]);
    shapes.set(`${p}post_attention_layernorm.weight`, [d]);
    shapes.set(`${p}mlp.gate_proj.weight`, [ff, d]);
    shapes.set(`${p}mlp.up_proj.weight`, [ff, d]);
    shapes.set(`${p}mlp.down_proj.weight`, [d, ff]);
    if (config.mlpBias) {
      shapes.set(`${p}mlp.gate_proj.bias`, [ff]);
      shapes.set(`${p}mlp.up_proj.bias`, [ff]);
      shapes.set(`${p}mlp.down_proj.bias`, [d]);
    }
  }
  shapes.set("model.norm.weight", [d]);
  if (!config.tieWordEmbeddings) shapes.set("lm_head.weight", [config.vocabSize, d]);
  return shapes;
}

/**
 * RoPE's inverse frequencies theta^(-2i/d) for i < d/2, with Llama 3's scaling when configured
 * (Hugging Face's `_compute_llama3_parameters`).
 * @param config the model's config
 * @returns head_dim / 2 frequencies
 */
export function ropeInverseFrequencies(config: LlamaConfig): Float64Array {
  const half = config.headDim / 2;
  const inv = Float64Array.from(
    { length: half },
    (_, i) => 1 / config.ropeTheta ** ((2 * i) / config.headDim),
  );
  const s = config.ropeScaling;
  if (!s) return inv;
  const lowWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const highWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  return inv.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < highWavelen) return f;
    if (wavelen > lowWavelen) return f / s.factor;
    const smooth = (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) /
      (s.highFreqFactor - s.lowFreqFactor);
    return (1 - smooth) * (f / s.factor) + smooth * f;
  });
}

/**
 * cos and sin of RoPE's angles for each position, laid out [positions.length, head_dim] as
 * Hugging Face's cat(angle, angle).
 * @param positions position ids
 * @param inverse the inverse frequencies ({@linkcode ropeInverseFrequencies})
 * @returns the two tables
 */
export function ropeTables(
  positions: ArrayLike<number | bigint>,
  inverse: Float64Array,
): { cos: Float32Array; sin: Float32Array } {
  const half = inverse.length, hd = 2 * half, n = positions.length;
  const cos = new Float32Array(n * hd), sin = new Float32Array(n * hd);
  for (let p = 0; p < n; p++) {
    const pos = Number(positions[p]);
    for (let i = 0; i < half; i++) {
      const angle = pos * inverse[i];
      const c = Math.cos(angle), s = Math.sin(angle);
      cos[p * hd + i] = cos[p * hd + half + i] = c;
      sin[p * hd + i] = sin[p * hd + half + i] = s;
    }
  }
  return { cos, sin };
}

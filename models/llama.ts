/**
 * A Llama-family model's weights (tf.Variables by Hugging Face name, so the optimizer and the
 * checkpoints treat it as they treat GPT-2 and T5) and its folder I/O: config.json,
 * model.safetensors (single or sharded; F32, F16 or BF16), the tokenizer. The forward lives on
 * the engine alone (models/engine/llama_graphs.ts, models/engine/llama_engine.ts).
 * @module
 */
import { InputError } from "../core/errors.ts";
import { ensureBackend } from "./backend.ts";
import { readConfigFile, weightsFile, writeModelFolder } from "./checkpoint.ts";
import { type LlamaConfig, llamaConfigFromHF, llamaWeightShapes } from "./llama_config.ts";
import { type HostTensor, readSafetensorsDir } from "./safetensors.ts";
import { loadModelTokenizer } from "./tokenizer.ts";
import { WeightedModel, weightsFromHost } from "./weight_map.ts";
import { LLAMA_LORA_LAYOUT, type LoraLayout } from "./lora.ts";

/** A Llama-family causal LM's weights and config (its forward runs on the engine). */
export class LlamaLM extends WeightedModel<LlamaConfig> {
  /** Which layers take LoRA adapters (nn.Linear, [out, in]) and PEFT's names for them. */
  readonly loraLayout: Readonly<LoraLayout> = LLAMA_LORA_LAYOUT;
}

/**
 * A Llama model from host tensors: exactly the tensors `llamaWeightShapes(config)` names (a
 * tied model's stray `lm_head.weight`, which some exports keep, is dropped).
 * @param config the checked config
 * @param byName tensors by checkpoint name
 * @param file the weights file, named in errors
 * @returns the model
 * @throws {InputError} naming the file and the missing, unexpected or misshapen tensor
 */
export function llamaFromHost(
  config: LlamaConfig,
  byName: ReadonlyMap<string, HostTensor>,
  file: string,
): LlamaLM {
  const tensors = new Map(byName);
  if (config.tieWordEmbeddings) tensors.delete("lm_head.weight");
  const shapes = llamaWeightShapes(config);
  for (const name of shapes.keys()) {
    if (!tensors.has(name) && /\.(q|k|v)_proj\.bias$/.test(name)) {
      throw new InputError(
        `Missing tensor "${name}": a ${config.modelType} checkpoint has q/k/v biases`,
        file,
      );
    }
  }
  return new LlamaLM(config, weightsFromHost(tensors, shapes, file));
}

/**
 * Loads a Llama-family Hugging Face folder (`model_type` llama, qwen2 or mistral).
 * @param dir the folder
 * @returns the model with its tokenizer (the caller disposes it)
 * @throws {InputError} naming the file and field or tensor that is wrong
 */
export async function loadLlama(dir: string): Promise<LlamaLM> {
  await ensureBackend();
  const { json, file } = await readConfigFile(dir);
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new InputError("Expected a JSON object", file);
  }
  const config = llamaConfigFromHF(json as Record<string, unknown>, file);
  const tokenizer = await loadModelTokenizer(dir, config.vocabSize, file);
  const model = llamaFromHost(config, await readSafetensorsDir(dir), await weightsFile(dir));
  model.tokenizer = tokenizer;
  return model;
}

/** config.json of a Llama config, as Hugging Face writes it. */
export function llamaConfigToHF(config: LlamaConfig): Record<string, unknown> {
  const architecture = { llama: "LlamaForCausalLM", qwen2: "Qwen2ForCausalLM" }[
    config.modelType as "llama" | "qwen2"
  ] ?? "MistralForCausalLM";
  const s = config.ropeScaling;
  return {
    architectures: [architecture],
    model_type: config.modelType,
    vocab_size: config.vocabSize,
    hidden_size: config.hiddenSize,
    intermediate_size: config.intermediateSize,
    num_hidden_layers: config.numHiddenLayers,
    num_attention_heads: config.numAttentionHeads,
    num_key_value_heads: config.numKeyValueHeads,
    head_dim: config.headDim,
    hidden_act: "silu",
    rms_norm_eps: config.rmsNormEps,
    rope_theta: config.ropeTheta,
    rope_scaling: s
      ? {
        rope_type: "llama3",
        factor: s.factor,
        low_freq_factor: s.lowFreqFactor,
        high_freq_factor: s.highFreqFactor,
        original_max_position_embeddings: s.originalMaxPositionEmbeddings,
      }
      : null,
    max_position_embeddings: config.maxPositionEmbeddings,
    tie_word_embeddings: config.tieWordEmbeddings,
    attention_bias: config.attentionBias,
    mlp_bias: config.mlpBias,
    bos_token_id: config.bosTokenId,
    eos_token_id: config.eosTokenId,
    pad_token_id: config.padTokenId,
    torch_dtype: "float32",
  };
}

/**
 * Saves a Llama model as a Hugging Face folder (F32 `model.safetensors`, config.json, its
 * tokenizer's files); each file is written atomically.
 * @param model the model
 * @param dir the folder (created if missing)
 */
export async function saveLlama(model: LlamaLM, dir: string): Promise<void> {
  await writeModelFolder(
    dir,
    await model.mergedToHost(),
    model.tokenizer,
    llamaConfigToHF(model.config),
  );
}

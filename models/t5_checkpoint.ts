/**
 * Loads and saves Hugging Face T5 folders (`config.json`, weights in
 * `model.safetensors` or shards listed in `model.safetensors.index.json`,
 * tokenizer files when present), and {@linkcode loadPolicy}, which picks the
 * GPT-2, T5 or Llama-family loader by config.json's `model_type`.
 * @module
 */
import { InputError } from "../core/errors.ts";
import { ensureBackend } from "./backend.ts";
import {
  loadCausalLM,
  readConfigFile,
  saveCausalLM,
  weightsFile,
  writeModelFolder,
} from "./checkpoint.ts";
import { GPT2LM } from "./gpt2.ts";
import { LlamaLM, loadLlama, saveLlama } from "./llama.ts";
import { readSafetensorsDir } from "./safetensors.ts";
import { t5ConfigFromHF, t5ConfigToHF } from "./t5_config.ts";
import { checkT5Config, t5FromHost, type T5LM } from "./t5.ts";
import { loadModelTokenizer } from "./tokenizer.ts";

/** Reads and parses `dir/config.json` as a JSON object. */
async function readConfigJson(
  dir: string,
): Promise<{ json: Record<string, unknown>; file: string }> {
  const { json, file } = await readConfigFile(dir);
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new InputError("Expected a JSON object", file);
  }
  return { json: json as Record<string, unknown>, file };
}

/**
 * Loads a Hugging Face T5ForConditionalGeneration folder (original T5 or
 * v1.1 / flan-t5 layout; F32, F16 or BF16 safetensors, single or sharded;
 * with or without the `embed_tokens` copies of `shared.weight`), with its
 * tokenizer when `tokenizer.json` is there. A bad checkpoint is a one-line
 * error naming the file and the field or tensor.
 * @param dir the folder
 * @returns the model (the caller disposes it); `model.tokenizer` is set when present
 */
export async function loadSeq2SeqLM(dir: string): Promise<T5LM> {
  await ensureBackend();
  const { json, file: configFile } = await readConfigJson(dir);
  if (json.model_type !== "t5") {
    throw new InputError(
      `Field "model_type" is ${JSON.stringify(json.model_type)}, expected "t5"`,
      configFile,
    );
  }
  const config = checkT5Config(t5ConfigFromHF(json, configFile), configFile);
  const tokenizer = await loadModelTokenizer(dir, config.vocabSize, configFile);
  const model = t5FromHost(config, await readSafetensorsDir(dir), await weightsFile(dir));
  model.tokenizer = tokenizer;
  return model;
}

/**
 * Saves a T5 as a Hugging Face folder: `config.json`, `model.safetensors`
 * (F32, `shared.weight` once, no `embed_tokens` copies, `lm_head.weight` only
 * when untied, as `save_pretrained` writes it) and, if the model has a
 * tokenizer loaded from a folder, its tokenizer files. Each file is written
 * atomically; other files in `dir` are left alone.
 * @param model the model
 * @param dir the folder (created if missing)
 */
export async function saveSeq2SeqLM(model: T5LM, dir: string): Promise<void> {
  // a LoRA model is saved as the model it computes: its adapters merged into the base
  const host = await model.mergedToHost();
  await writeModelFolder(dir, host, model.tokenizer, t5ConfigToHF(model.config));
}

/**
 * A policy model of a family this library trains: GPT-2 or the Llama family (decoder-only), or
 * T5 (seq2seq).
 */
export type PolicyModel = GPT2LM | T5LM | LlamaLM;

/**
 * Saves a policy as a Hugging Face folder with its family's writer
 * ({@linkcode saveCausalLM}, {@linkcode saveSeq2SeqLM} or {@linkcode saveLlama}).
 * @param model the model
 * @param dir the folder (created if missing)
 */
export async function savePolicy(model: PolicyModel, dir: string): Promise<void> {
  if (model instanceof GPT2LM) await saveCausalLM(model, dir);
  else if (model instanceof LlamaLM) await saveLlama(model, dir);
  else await saveSeq2SeqLM(model, dir);
}

/**
 * Loads a policy folder by its config.json `model_type`: "gpt2" with
 * {@linkcode loadCausalLM}, "t5" with {@linkcode loadSeq2SeqLM}, "llama", "qwen2" or "mistral"
 * with {@linkcode loadLlama}.
 * @param dir a Hugging Face model folder
 * @returns the model (the caller disposes it)
 */
export async function loadPolicy(dir: string): Promise<PolicyModel> {
  const { json, file } = await readConfigJson(dir);
  switch (json.model_type) {
    case "gpt2":
      return await loadCausalLM(dir);
    case "t5":
      return await loadSeq2SeqLM(dir);
    case "llama":
    case "qwen2":
    case "mistral":
      return await loadLlama(dir);
    default:
      throw new InputError(
        `Field "model_type" is ${
          JSON.stringify(json.model_type)
        }; expected "gpt2" (GPT2LMHeadModel), "t5" (T5ForConditionalGeneration) or "llama", ` +
          `"qwen2", "mistral" (their ForCausalLM)`,
        file,
      );
  }
}

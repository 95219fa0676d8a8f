/**
 * Loads and saves Hugging Face GPT-2 folders: `config.json`, weights in
 * `model.safetensors` (or shards listed in `model.safetensors.index.json`),
 * and the tokenizer files when present. Saved folders load back here and in
 * Hugging Face tools.
 * @module
 */
import { exists } from "../core/fs.ts";
import { ensureBackend } from "./backend.ts";
import { InputError } from "../core/errors.ts";
import { writeFileAtomic, writeJsonAtomic } from "../core/atomic.ts";
import type { GPT2Config } from "./types.ts";
import { checkGPT2Config, gpt2FromHost, type GPT2LM } from "./gpt2.ts";
import { type HostTensor, readSafetensorsDir, writeSafetensors } from "./safetensors.ts";
import { HFTokenizer, loadModelTokenizer, TOKENIZER_FILES } from "./tokenizer.ts";

/** config.json keys (snake_case) of each GPT2Config field. */
const CONFIG_KEYS: Record<keyof GPT2Config, string> = {
  vocabSize: "vocab_size",
  nPositions: "n_positions",
  nEmbd: "n_embd",
  nLayer: "n_layer",
  nHead: "n_head",
  nInner: "n_inner",
  layerNormEpsilon: "layer_norm_epsilon",
  activationFunction: "activation_function",
  initializerRange: "initializer_range",
  bosTokenId: "bos_token_id",
  eosTokenId: "eos_token_id",
  tieWordEmbeddings: "tie_word_embeddings",
};

/**
 * Reads a Hugging Face `config.json` object as a GPT2Config.
 * @param json the parsed file
 * @param file the file named in errors
 * @returns the checked config
 */
export function parseGPT2Config(json: unknown, file: string): GPT2Config {
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new InputError("Expected a JSON object", file);
  }
  const raw = json as Record<string, unknown>;
  if (raw.model_type !== "gpt2") {
    throw new InputError(
      `Field "model_type" is ${JSON.stringify(raw.model_type)}, expected "gpt2" ` +
        "(loadPolicy reads every family: gpt2, t5, llama, qwen2, mistral)",
      file,
    );
  }
  if (raw.scale_attn_by_inverse_layer_idx === true || raw.scale_attn_weights === false) {
    throw new InputError(
      `Fields "scale_attn_by_inverse_layer_idx"/"scale_attn_weights" must keep GPT-2's defaults`,
      file,
    );
  }
  const config: Partial<GPT2Config> = {};
  for (const [field, key] of Object.entries(CONFIG_KEYS) as [keyof GPT2Config, string][]) {
    if (raw[key] !== undefined) (config as Record<string, unknown>)[field] = raw[key];
  }
  return checkGPT2Config(config, file, CONFIG_KEYS);
}

/**
 * A GPT2Config as a Hugging Face `config.json` object.
 * @param config the config
 * @returns the JSON object GPT2LMHeadModel.from_pretrained reads
 */
export function gpt2ConfigToJson(config: GPT2Config): Record<string, unknown> {
  const json: Record<string, unknown> = {
    architectures: ["GPT2LMHeadModel"],
    model_type: "gpt2",
    n_ctx: config.nPositions,
  };
  for (const [field, key] of Object.entries(CONFIG_KEYS) as [keyof GPT2Config, string][]) {
    json[key] = config[field];
  }
  json.torch_dtype = "float32";
  return json;
}

/**
 * Loads a GPT-2 folder, with its tokenizer when `tokenizer.json` is there.
 * Works as a program's first call: the TensorFlow.js backend readies itself
 * on first use (`ensureBackend`) unless one was chosen already.
 * @param dir the folder
 * @returns the model (the caller disposes it); `model.tokenizer` is set when present
 */
export async function loadCausalLM(dir: string): Promise<GPT2LM> {
  await ensureBackend();
  const { json, file: configFile } = await readConfigFile(dir);
  const config = parseGPT2Config(json, configFile);
  const tokenizer = await loadModelTokenizer(dir, config.vocabSize, configFile);
  const model = gpt2FromHost(config, await readSafetensorsDir(dir), await weightsFile(dir));
  model.tokenizer = tokenizer;
  return model;
}

/**
 * `dir/config.json`, parsed; one-line errors for a missing file or invalid JSON.
 * @param dir a model folder
 * @returns the parsed JSON and the file's path
 */
export async function readConfigFile(dir: string): Promise<{ json: unknown; file: string }> {
  const file = `${dir}/config.json`;
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw new InputError("Missing config.json", dir);
    throw error;
  }
  try {
    return { json: JSON.parse(text), file };
  } catch (error) {
    throw new InputError(`Invalid JSON: ${(error as Error).message}`, file);
  }
}

/** The file a folder's weights come from, for errors: `model.safetensors` or its shard index. */
export async function weightsFile(dir: string): Promise<string> {
  return (await exists(`${dir}/model.safetensors`))
    ? `${dir}/model.safetensors`
    : `${dir}/model.safetensors.index.json`;
}

/**
 * Writes a Hugging Face model folder: `model.safetensors` (F32), the files of
 * `tokenizer` when it was loaded from a folder, and `config.json`, each
 * atomically; other files in `dir` are left alone.
 * @param dir the folder (created if missing)
 * @param tensors the weights by checkpoint key
 * @param tokenizer the model's tokenizer, if any
 * @param config the config.json object
 */
export async function writeModelFolder(
  dir: string,
  tensors: Map<string, HostTensor>,
  tokenizer: unknown,
  config: Record<string, unknown>,
): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  // read the tokenizer files before writing, in case dir is where they came from
  const files: [string, Uint8Array][] = [];
  if (tokenizer instanceof HFTokenizer) {
    for (const name of TOKENIZER_FILES) {
      const path = `${tokenizer.dir}/${name}`;
      if (await exists(path)) files.push([name, await Deno.readFile(path)]);
    }
  }
  await writeSafetensors(`${dir}/model.safetensors`, tensors, { format: "pt" });
  for (const [name, bytes] of files) await writeFileAtomic(`${dir}/${name}`, bytes);
  await writeJsonAtomic(`${dir}/config.json`, config);
}

/**
 * Saves a model as a Hugging Face folder: `config.json`, `model.safetensors`
 * (F32, `transformer.`-prefixed keys, tied head omitted; a LoRA model's adapters merged) and, if the model has
 * a tokenizer loaded from a folder, its tokenizer files. Each file is written
 * atomically; other files in `dir` are left alone.
 * @param model the model
 * @param dir the folder (created if missing)
 */
export async function saveCausalLM(model: GPT2LM, dir: string): Promise<void> {
  const prefixed = new Map<string, HostTensor>();
  // a LoRA model is saved as the model it computes: its adapters merged into the base
  for (const [name, t] of await model.mergedToHost()) prefixed.set(`transformer.${name}`, t);
  await writeModelFolder(dir, prefixed, model.tokenizer, gpt2ConfigToJson(model.config));
}

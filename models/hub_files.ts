/**
 * The files that make a saved model folder complete for Hugging Face tools,
 * beside `config.json` and `model.safetensors` ({@linkcode saveCausalLM}):
 * `generation_config.json` (the decoding defaults), `tokenizer_config.json` with
 * `model_max_length`, `special_tokens_map.json`, the tokenizer itself when the
 * model's tokenizer has no folder of its own, and a `README.md` model card.
 * @module
 */
import { writeFileAtomic, writeJsonAtomic } from "../core/atomic.ts";
import { InputError } from "../core/errors.ts";
import type { T5Config } from "./t5_config.ts";
import type { GPT2Config } from "./types.ts";
import type { LlamaConfig } from "./llama_config.ts";

/**
 * T5 has relative positions and no context limit of its own; Hugging Face's T5
 * tokenizers write this `model_max_length`.
 */
const T5_MODEL_MAX_LENGTH = 512;

/** Decoding defaults for `generation_config.json` (our GenerationConfig's fields). */
export interface HubGenerationDefaults {
  /** New tokens per generation. */
  maxNewTokens: number;
  /** EOS is banned before this many tokens. */
  minNewTokens: number;
  /** Top-k (0 = off). */
  topK: number;
  /** Top-p (1 = off). */
  topP: number;
  /** Softmax temperature. */
  temperature: number;
  /** Whether generation stops at EOS (false: `eos_token_id` is null). @default true */
  stopAtEos?: boolean;
  /** Sample (true) or decode deterministically (false). @default true */
  doSample?: boolean;
  /** Beam width when not sampling. @default 1 */
  numBeams?: number;
}

/** What {@linkcode writeHubFiles} adds to a folder. */
export interface HubFilesOptions {
  /** The decoding defaults; absent: Hugging Face's (greedy, 20 tokens) with the model's ids. */
  generation?: HubGenerationDefaults;
  /**
   * Tokenizer files to write when the folder has none (a tokenizer not read from a folder,
   * e.g. the toy task's): file name → JSON object.
   */
  tokenizerFiles?: Record<string, Record<string, unknown>>;
  /** The padding id (GPT-2 pads with EOS). @default the config's EOS id */
  padTokenId?: number;
  /** The model card (`README.md`) text; absent: no card is written. */
  modelCard?: string;
}

const SPECIAL_KEYS = [
  "bos_token",
  "eos_token",
  "unk_token",
  "pad_token",
  "additional_special_tokens",
] as const;

async function readJsonObject(path: string): Promise<Record<string, unknown> | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  try {
    const json = JSON.parse(text);
    if (json && typeof json === "object" && !Array.isArray(json)) return json;
  } catch {
    // reported below
  }
  throw new InputError("expected a JSON object", path);
}

/**
 * The `generation_config.json` object of a model and its decoding defaults.
 * @param config the model's config (EOS and BOS ids; T5: its decoder start)
 * @param generation the decoding defaults, if any
 * @param padTokenId the padding id (default: the config's pad, else EOS)
 * @returns the JSON object `GenerationConfig.from_pretrained` reads
 */
export function generationConfigJson(
  config: GPT2Config | T5Config | LlamaConfig,
  generation?: HubGenerationDefaults,
  padTokenId: number = ("padTokenId" in config ? config.padTokenId : config.eosTokenId),
): Record<string, unknown> {
  const json: Record<string, unknown> = {
    _from_model_config: generation === undefined,
    ...("decoderStartTokenId" in config
      ? { decoder_start_token_id: config.decoderStartTokenId }
      : { bos_token_id: config.bosTokenId }),
    eos_token_id: generation?.stopAtEos === false ? null : config.eosTokenId,
    pad_token_id: padTokenId,
  };
  if (generation) {
    Object.assign(json, {
      max_new_tokens: generation.maxNewTokens,
      min_new_tokens: generation.minNewTokens,
      do_sample: generation.doSample ?? true,
      ...(generation.numBeams && generation.numBeams > 1 ? { num_beams: generation.numBeams } : {}),
      top_k: generation.topK,
      top_p: generation.topP,
      temperature: generation.temperature,
    });
  }
  return json;
}

/**
 * Adds the Hugging Face side files to a saved model folder (each written atomically):
 * `generation_config.json`, `tokenizer_config.json` (the existing one, or the given one,
 * with `model_max_length` set to the context length; T5's 512), `special_tokens_map.json`,
 * tokenizer files the folder lacks, and `README.md` when a card is given.
 * @param dir a folder written by `saveCausalLM` or `saveSeq2SeqLM`
 * @param config the model's config
 * @param options decoding defaults, tokenizer files and model card
 */
export async function writeHubFiles(
  dir: string,
  config: GPT2Config | T5Config | LlamaConfig,
  options: HubFilesOptions = {},
): Promise<void> {
  for (const [name, json] of Object.entries(options.tokenizerFiles ?? {})) {
    if ((await readJsonObject(`${dir}/${name}`)) === null) {
      await writeJsonAtomic(`${dir}/${name}`, json);
    }
  }
  const tokenizerConfig = await readJsonObject(`${dir}/tokenizer_config.json`) ?? {};
  tokenizerConfig.model_max_length = "nPositions" in config
    ? config.nPositions
    : "maxPositionEmbeddings" in config
    ? config.maxPositionEmbeddings
    : T5_MODEL_MAX_LENGTH;
  await writeJsonAtomic(`${dir}/tokenizer_config.json`, tokenizerConfig);
  const specialTokens = Object.fromEntries(
    SPECIAL_KEYS.filter((key) =>
      tokenizerConfig[key] !== undefined && tokenizerConfig[key] !== null
    )
      .map((key) => [key, tokenizerConfig[key]]),
  );
  await writeJsonAtomic(`${dir}/special_tokens_map.json`, specialTokens);
  await writeJsonAtomic(
    `${dir}/generation_config.json`,
    generationConfigJson(config, options.generation, options.padTokenId),
  );
  if (options.modelCard !== undefined) await writeFileAtomic(`${dir}/README.md`, options.modelCard);
}

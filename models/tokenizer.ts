/**
 * A Hugging Face tokenizer from a local folder (`tokenizer.json`,
 * `tokenizer_config.json`): GPT-2's byte-level BPE, T5's SentencePiece
 * Unigram, or any other transformers.js reads, with remote downloads turned
 * off.
 * @module
 */
import { InputError } from "../core/errors.ts";
import type { Tokenizer } from "./types.ts";

/** A transformers.js tokenizer behind our {@linkcode Tokenizer} contract. */
export class HFTokenizer implements Tokenizer {
  /** Largest id in `get_vocab()` plus one. */
  readonly vocabSize: number;
  /** The tokenizer's `eos_token` id; loading fails without one. */
  readonly eosTokenId: number;
  /** The `pad_token` id, or the EOS id when there is none (GPT-2). */
  readonly padTokenId: number;
  /** The folder the tokenizer was read from (its files are copied on save). */
  readonly dir: string;
  #inner: TransformersTokenizer;

  /**
   * Wraps a loaded tokenizer; {@linkcode loadTokenizer} reads one from a folder.
   *
   * @param inner a loaded transformers.js tokenizer
   * @param dir the folder it came from
   */
  constructor(inner: TransformersTokenizer, dir: string) {
    this.#inner = inner;
    this.dir = dir;
    let max = -1;
    for (const id of inner.get_vocab().values()) max = Math.max(max, id);
    this.vocabSize = max + 1;
    const eos = inner.eos_token_id;
    if (typeof eos !== "number") throw new InputError("The tokenizer has no eos_token", dir);
    this.eosTokenId = eos;
    // GPT-2 has no pad token: pads are EOS, always masked out
    this.padTokenId = typeof inner.pad_token_id === "number" ? inner.pad_token_id : eos;
  }

  /** Token ids of `text` (no special tokens added). */
  encode(text: string): number[] {
    return this.#inner.encode(text, { add_special_tokens: false });
  }

  /**
   * Text of `ids` without special tokens (Hugging Face's `skip_special_tokens`):
   * a generation that ends at EOS is scored as its words, not as "<|endoftext|>".
   */
  decode(ids: number[]): string {
    // transformers.js refuses an empty list (a row that stopped at once)
    return ids.length === 0 ? "" : this.#inner.decode(ids, { skip_special_tokens: true });
  }
}

/** The parts of a transformers.js tokenizer we use. */
export interface TransformersTokenizer {
  /** Every token string and its id. */
  get_vocab(): Map<string, number>;
  /** The id of `eos_token`, if the tokenizer has one. */
  eos_token_id?: number | null;
  /** The id of `pad_token`, if the tokenizer has one (GPT-2 has none). */
  pad_token_id?: number | null;
  /** Token ids of `text`; we pass `add_special_tokens: false`. */
  encode(text: string, options: { add_special_tokens: boolean }): number[];
  /** Text of `ids`; we pass `skip_special_tokens: true`. */
  decode(ids: number[], options: { skip_special_tokens: boolean }): string;
}

let queue: Promise<unknown> = Promise.resolve();

/**
 * Loads the tokenizer in `dir` (offline).
 * @param dir a folder with `tokenizer.json`
 * @returns the tokenizer
 */
export async function loadTokenizer(dir: string): Promise<HFTokenizer> {
  let absolute: string;
  try {
    absolute = await Deno.realPath(dir);
    await Deno.stat(`${absolute}/tokenizer.json`);
  } catch {
    throw new InputError("Missing tokenizer.json", dir);
  }
  // transformers.js resolves local models against a global path: load one at a time
  const load = queue.then(async () => {
    const { AutoTokenizer, env } = await import("@huggingface/transformers");
    // transformers.js settings are global: set them for this load only, then restore
    const saved = [env.allowRemoteModels, env.allowLocalModels, env.localModelPath] as const;
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    const slash = absolute.lastIndexOf("/");
    env.localModelPath = absolute.slice(0, slash + 1);
    try {
      const inner = await AutoTokenizer.from_pretrained(absolute.slice(slash + 1));
      return new HFTokenizer(inner as unknown as TransformersTokenizer, dir);
    } finally {
      [env.allowRemoteModels, env.allowLocalModels, env.localModelPath] = saved;
    }
  });
  queue = load.catch(() => {});
  try {
    return await load;
  } catch (error) {
    throw new InputError(`Cannot load the tokenizer: ${(error as Error).message}`, dir);
  }
}

/**
 * The tokenizer of a model folder, when it has `tokenizer.json`, checked
 * against the model: a tokenizer with more ids than the model's `vocab_size`
 * is an error naming both files (fewer is fine: T5 pads its embedding
 * table past the tokenizer's 32100 ids).
 * @param dir the model folder
 * @param vocabSize the model's vocabulary size
 * @param configFile the file `vocabSize` came from, named in the error
 * @returns the tokenizer, or undefined when the folder has none
 */
export async function loadModelTokenizer(
  dir: string,
  vocabSize: number,
  configFile = `${dir}/config.json`,
): Promise<HFTokenizer | undefined> {
  try {
    await Deno.stat(`${dir}/tokenizer.json`);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  const tokenizer = await loadTokenizer(dir);
  if (tokenizer.vocabSize > vocabSize) {
    throw new InputError(
      `A tokenizer whose vocabulary does not fit the model's: tokenizer ${dir}/tokenizer.json ` +
        `has ${tokenizer.vocabSize} tokens, model ${configFile} has vocab_size ${vocabSize}`,
      dir,
    );
  }
  return tokenizer;
}

/** Files that make up a Hugging Face tokenizer folder (copied when a model is saved). */
export const TOKENIZER_FILES: readonly string[] = [
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "vocab.json",
  "merges.txt",
  "generation_config.json",
];

/**
 * Toy tasks on a 16-token vocabulary, for tests and the CLI's `toy` preset: a dense
 * reward (the share of a target token) and a sparse one (1 only when the generation
 * contains a short sequence that a hand-built guide knows how to write).
 * @module
 */
import { InputError } from "../core/errors.ts";
import { Rng } from "../core/prng.ts";
import type { GenerateOptions, TokenGenerator, Tokenizer } from "../models/types.ts";
import type { ScoringBatch } from "../rewards/types.ts";
import type { GenerationDefaults, PromptRecord, Split, Task } from "./types.ts";

/** The toy alphabet: one character per token; "." (id 0) is EOS and padding. */
export const TOY_ALPHABET = ".abcdefghijklmno";

/** A character-level tokenizer over {@linkcode TOY_ALPHABET}. */
export class ToyTokenizer implements Tokenizer {
  /** One id per character of {@linkcode TOY_ALPHABET}: 16. */
  readonly vocabSize: number = TOY_ALPHABET.length;
  readonly eosTokenId = 0;
  readonly padTokenId = 0;

  /**
   * Maps each character to its index in {@linkcode TOY_ALPHABET}; other characters throw.
   *
   * @param text characters of the toy alphabet
   * @returns one id per character
   */
  encode(text: string): number[] {
    return [...text].map((ch, i) => {
      const id = TOY_ALPHABET.indexOf(ch);
      if (id < 0) {
        throw new InputError(
          `character ${JSON.stringify(ch)} at ${i} is not in the toy alphabet "${TOY_ALPHABET}"`,
          "ToyTokenizer.encode",
        );
      }
      return id;
    });
  }

  /**
   * Maps each id back to its character; "." (EOS) is kept, not stripped.
   *
   * @param ids token ids in [0, 16)
   * @returns the characters
   */
  decode(ids: number[]): string {
    return ids.map((id) => {
      if (!Number.isInteger(id) || id < 0 || id >= TOY_ALPHABET.length) {
        throw new RangeError(`Toy token id must be in [0, ${TOY_ALPHABET.length}), got ${id}`);
      }
      return TOY_ALPHABET[id];
    }).join("");
  }

  /**
   * This tokenizer as Hugging Face files (a character-level BPE with no merges), so a
   * saved toy model folder loads with its tokenizer in transformers and here.
   *
   * @returns `tokenizer.json` and `tokenizer_config.json`, by file name
   */
  hubFiles(): Record<string, Record<string, unknown>> {
    const eos = TOY_ALPHABET[this.eosTokenId];
    return {
      "tokenizer.json": {
        version: "1.0",
        truncation: null,
        padding: null,
        added_tokens: [{
          id: this.eosTokenId,
          content: eos,
          single_word: false,
          lstrip: false,
          rstrip: false,
          normalized: false,
          special: true,
        }],
        normalizer: null,
        pre_tokenizer: null,
        post_processor: null,
        decoder: { type: "Fuse" },
        model: {
          type: "BPE",
          dropout: null,
          unk_token: null,
          continuing_subword_prefix: null,
          end_of_word_suffix: null,
          fuse_unk: false,
          byte_fallback: false,
          vocab: Object.fromEntries([...TOY_ALPHABET].map((ch, id) => [ch, id])),
          merges: [],
        },
      },
      "tokenizer_config.json": {
        tokenizer_class: "PreTrainedTokenizerFast",
        bos_token: eos,
        eos_token: eos,
        pad_token: eos,
        clean_up_tokenization_spaces: false,
      },
    };
  }
}

/** Options of the toy tasks. */
export interface ToyTaskOptions {
  /** Prompts per split. @default 64 */
  records?: number;
  /** Seed of the prompt texts. @default 0 */
  seed?: number;
  /** New tokens per trajectory. @default 4 */
  maxNewTokens?: number;
}

/** Random 3-character prompts over "bdeg" (disjoint from the sparse target), one split per stream. */
function toyRecords(split: Split, count: number, seed: number, reference: string): PromptRecord[] {
  const rng = new Rng(seed).child(`toy-${split}`);
  return Array.from({ length: count }, (_, i) => ({
    id: `${split}-${i}`,
    prompt: Array.from({ length: 3 }, () => "bdeg"[rng.int(4)]).join(""),
    references: reference === "" ? [] : [reference],
  }));
}

function toyTask(
  name: string,
  score: (generation: string) => number,
  reference: string,
  options: ToyTaskOptions,
): Task {
  const count = options.records ?? 64;
  const seed = options.seed ?? 0;
  const generation: GenerationDefaults = {
    maxPromptTokens: 8,
    maxNewTokens: options.maxNewTokens ?? 4,
    minNewTokens: 0,
    topK: 0,
  };
  const reward = (batch: ScoringBatch) => Promise.resolve(batch.generations.map(score));
  return {
    name,
    records: (split) => Promise.resolve(toyRecords(split, count, seed, reference)),
    reward,
    metrics: async (batch) => {
      const scores = await reward(batch);
      return { reward_mean: scores.reduce((a, b) => a + b, 0) / Math.max(1, scores.length) };
    },
    generation,
  };
}

/**
 * The dense toy task: reward = the share of `target` characters in the generation.
 *
 * @param options sizes and seed; `target` defaults to "a"
 * @returns the task
 */
export function toyDenseTask(options: ToyTaskOptions & { target?: string } = {}): Task {
  const target = options.target ?? "a";
  return toyTask(
    "toy-dense",
    (g) => {
      if (g.length === 0) return 0;
      return [...g].filter((ch) => ch === target).length / g.length;
    },
    "",
    options,
  );
}

/**
 * The sparse toy task: reward 1 when the generation contains `sequence`, else 0.
 * Its references are the sequence itself (what BC would learn).
 *
 * @param options sizes and seed; `sequence` defaults to "caf"
 * @returns the task
 */
export function toySparseTask(options: ToyTaskOptions & { sequence?: string } = {}): Task {
  const sequence = options.sequence ?? "caf";
  return toyTask("toy-sparse", (g) => g.includes(sequence) ? 1 : 0, sequence, options);
}

/**
 * A hand-built guide for the sparse task: it continues the longest prefix of
 * `sequence` that its input ends with, and starts the sequence otherwise, so it
 * writes the sequence as soon as it has room. Deterministic; it ignores sampling.
 *
 * @param sequence the target text (toy alphabet)
 * @param tokenizer the toy tokenizer
 * @returns the guide policy
 */
export function toyGuide(sequence: string, tokenizer: Tokenizer): TokenGenerator {
  const target = tokenizer.encode(sequence);
  const next = (ids: number[]): number => {
    for (let j = Math.min(target.length - 1, ids.length); j > 0; j--) {
      if (target.slice(0, j).every((id, i) => ids[ids.length - j + i] === id)) return target[j];
    }
    return target[0];
  };
  return {
    generate(inputIds: number[][], options: GenerateOptions): Promise<number[][]> {
      return Promise.resolve(inputIds.map((input, row) => {
        const n = Array.isArray(options.maxNewTokens)
          ? options.maxNewTokens[row]
          : options.maxNewTokens;
        const ids = input.slice();
        for (let t = 0; t < n; t++) ids.push(next(ids));
        return ids.slice(input.length);
      }));
    },
  };
}

/**
 * Training a byte-level BPE tokenizer (GPT-2's scheme) on a corpus, saved as a
 * Hugging Face `tokenizer.json` that transformers.js (and `tokenizers`) load.
 *
 * Why our own: the small default model needs a small vocabulary fitted to the
 * task's text, and no tokenizer hub is reachable. The trainer is the classic
 * one (Sennrich et al.): count pre-tokenised words, repeatedly merge the most
 * frequent adjacent pair (ties broken by the pair's string order, so the result
 * is deterministic), updating pair counts incrementally.
 * @module
 */
import { writeFileAtomic } from "../core/atomic.ts";

/** GPT-2's pre-tokenisation pattern: contractions, letters, numbers, other, whitespace. */
export const GPT2_SPLIT_PATTERN =
  /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** GPT-2's reversible map from bytes to printable characters. */
export function bytesToUnicode(): string[] {
  const printable: number[] = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const table = new Array<string>(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    table[b] = printable.includes(b) ? String.fromCharCode(b) : String.fromCharCode(256 + extra++);
  }
  return table;
}

/** A trained tokenizer: byte-level symbols plus merges in rank order. */
export interface BpeModel {
  /** Token string → id. Ids 0..255 are the byte symbols, then the merges, then the special tokens. */
  vocab: Map<string, number>;
  /** Merges in rank order, each a pair of token strings. */
  merges: [string, string][];
  /** The special end-of-text token string (also pad unless `padToken` is set). */
  eosToken: string;
  /** A padding token of its own (T5's `<pad>`, its decoder start), after the end-of-text token. */
  padToken?: string;
  /** Further special tokens (T5's `<extra_id_N>` sentinels), after the pad token, in order. */
  extraTokens?: string[];
}

/** Options of {@linkcode trainBpe}. */
export interface TrainBpeOptions {
  /** Total vocabulary size including the 256 bytes and every special token. */
  vocabSize: number;
  /** Pairs seen fewer times are never merged. @default 2 */
  minFrequency?: number;
  /** The end-of-text token, added as the last id of the vocabulary. @default "<|endoftext|>" */
  eosToken?: string;
  /** A padding token of its own, added after the end-of-text token. @default none (pad = EOS) */
  padToken?: string;
  /** Further special tokens (e.g. T5's span-corruption sentinels), added last. @default none */
  extraTokens?: string[];
  /** Called every so often with (merges done, merges wanted). */
  onProgress?: (done: number, total: number) => void;
}

/** Splits text into GPT-2 pre-tokens, each mapped to byte-level symbols. */
export function preTokenize(text: string, byteTable: string[] = bytesToUnicode()): string[] {
  const encoder = new TextEncoder();
  return (text.match(GPT2_SPLIT_PATTERN) ?? []).map((piece) =>
    Array.from(encoder.encode(piece), (b) => byteTable[b]).join("")
  );
}

/** Trains byte-level BPE on `texts`. */
export function trainBpe(texts: Iterable<string>, options: TrainBpeOptions): BpeModel {
  const eosToken = options.eosToken ?? "<|endoftext|>";
  const minFrequency = options.minFrequency ?? 2;
  const specials = [
    eosToken,
    ...(options.padToken ? [options.padToken] : []),
    ...(options.extraTokens ?? []),
  ];
  if (new Set(specials).size !== specials.length) {
    throw new RangeError(`special tokens must be distinct, got ${JSON.stringify(specials)}`);
  }
  if (!Number.isInteger(options.vocabSize) || options.vocabSize < 256 + specials.length) {
    throw new RangeError(
      `vocabSize must be an integer >= ${
        256 + specials.length
      } (256 bytes and ${specials.length} ` +
        `special tokens), got ${options.vocabSize}`,
    );
  }
  const byteTable = bytesToUnicode();
  const wordCounts = new Map<string, number>();
  for (const text of texts) {
    for (const word of preTokenize(text, byteTable)) {
      wordCounts.set(word, (wordCounts.get(word) ?? 0) + 1);
    }
  }
  // Words as arrays of symbols; sorted so that every tie-break is deterministic.
  const words = [...wordCounts.keys()].sort();
  const counts = words.map((w) => wordCounts.get(w)!);
  const symbols = words.map((w) => Array.from(w));

  const pairKey = (a: string, b: string) => `${a}\u0000${b}`;
  const pairCounts = new Map<string, number>();
  const pairWords = new Map<string, Set<number>>();
  const addPairs = (w: number, sign: number) => {
    const s = symbols[w];
    for (let i = 0; i + 1 < s.length; i++) {
      const key = pairKey(s[i], s[i + 1]);
      pairCounts.set(key, (pairCounts.get(key) ?? 0) + sign * counts[w]);
      if (sign > 0) {
        let set = pairWords.get(key);
        if (!set) pairWords.set(key, set = new Set());
        set.add(w);
      }
    }
  };
  for (let w = 0; w < words.length; w++) addPairs(w, 1);

  const vocab = new Map<string, number>();
  byteTable.forEach((symbol, i) => vocab.set(symbol, i));
  const merges: [string, string][] = [];
  const wanted = options.vocabSize - 256 - specials.length;
  while (merges.length < wanted) {
    let bestKey = "";
    let bestCount = 0;
    for (const [key, count] of pairCounts) {
      if (count > bestCount || (count === bestCount && count > 0 && key < bestKey)) {
        bestKey = key;
        bestCount = count;
      }
    }
    if (bestCount < minFrequency) break;
    const [a, b] = bestKey.split("\u0000");
    const merged = a + b;
    merges.push([a, b]);
    vocab.set(merged, vocab.size);
    for (const w of pairWords.get(bestKey) ?? []) {
      addPairs(w, -1);
      const s = symbols[w];
      const next: string[] = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
          next.push(merged);
          i++;
        } else next.push(s[i]);
      }
      symbols[w] = next;
      addPairs(w, 1);
    }
    pairCounts.delete(bestKey);
    pairWords.delete(bestKey);
    if (merges.length % 100 === 0) options.onProgress?.(merges.length, wanted);
  }
  for (const token of specials) vocab.set(token, vocab.size);
  return {
    vocab,
    merges,
    eosToken,
    ...(options.padToken ? { padToken: options.padToken } : {}),
    ...(options.extraTokens?.length ? { extraTokens: [...options.extraTokens] } : {}),
  };
}

/** Encodes text with a BPE model by applying merges in rank order (the reference encoder). */
export function bpeEncode(model: BpeModel, text: string): number[] {
  const ranks = new Map(model.merges.map(([a, b], i) => [`${a}\u0000${b}`, i]));
  const ids: number[] = [];
  for (const word of preTokenize(text)) {
    let parts = Array.from(word);
    while (parts.length > 1) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i + 1 < parts.length; i++) {
        const rank = ranks.get(`${parts[i]}\u0000${parts[i + 1]}`);
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          best = i;
        }
      }
      if (best < 0) break;
      parts = [...parts.slice(0, best), parts[best] + parts[best + 1], ...parts.slice(best + 2)];
    }
    for (const part of parts) ids.push(model.vocab.get(part)!);
  }
  return ids;
}

/** The Hugging Face `tokenizer.json` of a BPE model (GPT-2's pre-tokenizer and decoder). */
export function bpeTokenizerJson(model: BpeModel): Record<string, unknown> {
  const byteLevel = {
    type: "ByteLevel",
    add_prefix_space: false,
    trim_offsets: true,
    use_regex: true,
  };
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: specialTokens(model).map((content) => ({
      id: model.vocab.get(content)!,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: true,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: "",
      end_of_word_suffix: "",
      fuse_unk: false,
      byte_fallback: false,
      vocab: Object.fromEntries(model.vocab),
      merges: model.merges.map(([a, b]) => `${a} ${b}`),
    },
  };
}

function specialTokens(model: BpeModel): string[] {
  return [
    model.eosToken,
    ...(model.padToken ? [model.padToken] : []),
    ...(model.extraTokens ?? []),
  ];
}

/** Writes `tokenizer.json` and `tokenizer_config.json` into `dir` (atomically, file by file). */
export async function saveBpeTokenizer(model: BpeModel, dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await writeFileAtomic(`${dir}/tokenizer.json`, JSON.stringify(bpeTokenizerJson(model)));
  await writeFileAtomic(
    `${dir}/tokenizer_config.json`,
    JSON.stringify(
      {
        tokenizer_class: "GPT2Tokenizer",
        add_prefix_space: false,
        bos_token: model.eosToken,
        eos_token: model.eosToken,
        unk_token: model.eosToken,
        pad_token: model.padToken ?? model.eosToken,
        ...(model.extraTokens?.length ? { additional_special_tokens: model.extraTokens } : {}),
        clean_up_tokenization_spaces: false,
      },
      null,
      2,
    ),
  );
}

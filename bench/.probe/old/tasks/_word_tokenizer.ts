/**
 * A test tokenizer with one token per space-separated word, so token counts are easy to check by
 * hand. Test helper only; not exported from the barrel.
 * @module
 */
import type { Tokenizer } from "../models/types.ts";

/** Builds a word tokenizer whose vocabulary grows as words are seen. */
export function wordTokenizer(): Tokenizer {
  const ids = new Map<string, number>();
  const words: string[] = [];
  return {
    vocabSize: 1 << 20,
    eosTokenId: 0,
    padTokenId: 0,
    encode(text) {
      return text.split(" ").filter((w) => w !== "").map((w) => {
        if (!ids.has(w)) {
          ids.set(w, words.length + 1);
          words.push(w);
        }
        return ids.get(w)!;
      });
    },
    decode: (tokens) => tokens.map((t) => words[t - 1]).join(" "),
  };
}

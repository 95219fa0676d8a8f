/**
 * Caption-metric tokenisation in the manner of pycocoevalcap's PTBTokenizer use.
 * @module
 */

/**
 * The punctuation pycocoevalcap drops after PTB tokenisation, plus the quote
 * and bracket characters PTB would turn into such tokens.
 */
const PUNCTUATION = new Set([
  "''",
  "'",
  "``",
  "`",
  '"',
  ".",
  "?",
  "!",
  ",",
  ":",
  "-",
  "--",
  "...",
  ";",
  "(",
  ")",
  "[",
  "]",
  "{",
  "}",
]);

// A word keeps inner hyphens, apostrophes, periods, commas and slashes ("black-and-white",
// "3.5", "1,000"); English clitics split off as PTB does ("do n't", "dog 's").
const TOKEN = /n't\b|'(?:s|re|ve|ll|d|m)\b|[\p{L}\p{N}_]+(?:[-'.,/&][\p{L}\p{N}_]+)*|\S/gu;

/**
 * Lowercases a caption, splits words from punctuation (PTB style, clitics
 * such as "n't" and "'s" kept as their own words), drops punctuation and
 * returns the words joined by single spaces, the input the caption metrics
 * (BLEU, CIDEr-D, ROUGE-L, METEOR) expect.
 *
 * Deviation from Stanford's PTBTokenizer: brackets are dropped (PTB emits
 * "-lrb-"/"-rrb-", which pycocoevalcap keeps after lowercasing) and quotes are
 * dropped directly rather than becoming ``/'' first.
 *
 * @example
 * ```ts
 * import { tokenizeForCaptionMetrics } from "./tokenize.ts";
 * const t = tokenizeForCaptionMetrics("A dog's ball, isn't it?");
 * if (t !== "a dog 's ball is n't it") throw new Error(t);
 * ```
 * @param text raw caption text
 * @returns space-separated lowercase words without punctuation
 */
export function tokenizeForCaptionMetrics(text: string): string {
  const lower = text.toLowerCase()
    .replace(/(\p{L})n't\b/gu, "$1 n't")
    .replace(/(\p{L})'(s|re|ve|ll|d|m)\b/gu, "$1 '$2");
  const tokens = lower.match(TOKEN) ?? [];
  return tokens.filter((t) => !PUNCTUATION.has(t) && !/^[.\-?!,:;'`"]+$/.test(t)).join(" ");
}

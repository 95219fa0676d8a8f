/**
 * Shared helpers of the caption metrics: Python-compatible splitting and n-gram counts.
 * @module
 */

import { InputError } from "../core/errors.ts";

/** Python's `str.isspace()` characters, so our words match pycocoevalcap's `str.split()` exactly. */
const PY_WHITESPACE = new Set(
  [..."\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000"]
    .map((c) => c.charCodeAt(0))
    .concat([0x1c, 0x1d, 0x1e, 0x1f], Array.from({ length: 11 }, (_, k) => 0x2000 + k)),
);

/** Words as Python's `s.split()` gives them: runs of whitespace, no empty words. */
export function splitWords(text: string): string[] {
  const words: string[] = [];
  let start = -1;
  for (let i = 0; i <= text.length; i++) {
    const space = i === text.length || PY_WHITESPACE.has(text.charCodeAt(i));
    if (space && start >= 0) {
      words.push(text.slice(start, i));
      start = -1;
    } else if (!space && start < 0) start = i;
  }
  return words;
}

/** Counts of every 1..n-gram of `words`, keyed by the n-gram joined with a space. */
export function ngramCounts(words: string[], n: number): Map<string, number>[] {
  const counts: Map<string, number>[] = [];
  for (let k = 1; k <= n; k++) {
    const m = new Map<string, number>();
    for (let i = 0; i + k <= words.length; i++) {
      const g = words.slice(i, i + k).join(" ");
      m.set(g, (m.get(g) ?? 0) + 1);
    }
    counts.push(m);
  }
  return counts;
}

/** Checks the shared (candidates, references) input of the caption metrics. */
export function checkCaptionInput(
  metric: string,
  candidates: string[],
  references: string[][],
): void {
  if (candidates.length !== references.length) {
    throw new InputError(
      `Expected one reference list per candidate, got ${candidates.length} candidates and ${references.length} reference lists`,
      metric,
    );
  }
  for (let i = 0; i < candidates.length; i++) {
    if (typeof candidates[i] !== "string") {
      throw new InputError(`Expected a string`, `${metric}: candidates[${i}]`);
    }
    const refs = references[i];
    if (!Array.isArray(refs) || refs.length === 0) {
      throw new InputError(`Expected at least one reference`, `${metric}: references[${i}]`);
    }
    for (let j = 0; j < refs.length; j++) {
      if (typeof refs[j] !== "string") {
        throw new InputError(`Expected a string`, `${metric}: references[${i}][${j}]`);
      }
    }
  }
}

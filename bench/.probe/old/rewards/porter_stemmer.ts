/**
 * The Porter (1980) suffix-stripping stemmer, as published in "An algorithm for
 * suffix stripping", Program 14(3), 130-137.
 * @module
 */

type Rule = [suffix: string, replacement: string];

const STEP2: Rule[] = [
  ["ational", "ate"],
  ["tional", "tion"],
  ["enci", "ence"],
  ["anci", "ance"],
  ["izer", "ize"],
  ["abli", "able"],
  ["alli", "al"],
  ["entli", "ent"],
  ["eli", "e"],
  ["ousli", "ous"],
  ["ization", "ize"],
  ["ation", "ate"],
  ["ator", "ate"],
  ["alism", "al"],
  ["iveness", "ive"],
  ["fulness", "ful"],
  ["ousness", "ous"],
  ["aliti", "al"],
  ["iviti", "ive"],
  ["biliti", "ble"],
];

const STEP3: Rule[] = [
  ["icate", "ic"],
  ["ative", ""],
  ["alize", "al"],
  ["iciti", "ic"],
  ["ical", "ic"],
  ["ful", ""],
  ["ness", ""],
];

const STEP4 = [
  "al",
  "ance",
  "ence",
  "er",
  "ic",
  "able",
  "ible",
  "ant",
  "ement",
  "ment",
  "ent",
  "ion",
  "ou",
  "ism",
  "ate",
  "iti",
  "ous",
  "ive",
  "ize",
];

/** Whether w[i] is a consonant: not a vowel, and a "y" only after a vowel (or first). */
function isConsonant(w: string, i: number): boolean {
  const c = w[i];
  if ("aeiou".includes(c)) return false;
  if (c === "y") return i === 0 ? true : !isConsonant(w, i - 1);
  return true;
}

/** Porter's m: the number of vowel-consonant sequences in [C](VC)^m[V]. */
function measure(stem: string): number {
  let m = 0;
  let i = 0;
  while (i < stem.length && isConsonant(stem, i)) i++;
  while (i < stem.length) {
    while (i < stem.length && !isConsonant(stem, i)) i++;
    if (i >= stem.length) break;
    while (i < stem.length && isConsonant(stem, i)) i++;
    m++;
  }
  return m;
}

function hasVowel(stem: string): boolean {
  for (let i = 0; i < stem.length; i++) if (!isConsonant(stem, i)) return true;
  return false;
}

function endsDoubleConsonant(w: string): boolean {
  const n = w.length;
  return n >= 2 && w[n - 1] === w[n - 2] && isConsonant(w, n - 1);
}

/** *o: the stem ends consonant-vowel-consonant, the last not w, x or y. */
function endsCvc(w: string): boolean {
  const n = w.length;
  return n >= 3 && isConsonant(w, n - 3) && !isConsonant(w, n - 2) && isConsonant(w, n - 1) &&
    !"wxy".includes(w[n - 1]);
}

/** Applies the longest matching rule of a step; a match whose condition fails ends the step. */
function applyRules(w: string, rules: Rule[], cond: (stem: string) => boolean): string {
  let best: Rule | undefined;
  for (const r of rules) {
    if (w.endsWith(r[0]) && (!best || r[0].length > best[0].length)) best = r;
  }
  if (!best) return w;
  const stem = w.slice(0, w.length - best[0].length);
  return cond(stem) ? stem + best[1] : w;
}

function step1ab(w: string): string {
  if (w.endsWith("sses")) w = w.slice(0, -2);
  else if (w.endsWith("ies")) w = w.slice(0, -2);
  else if (w.endsWith("ss")) { /* unchanged */ }
  else if (w.endsWith("s")) w = w.slice(0, -1);

  if (w.endsWith("eed")) {
    return measure(w.slice(0, -3)) > 0 ? w.slice(0, -1) : w;
  }
  let stripped: string | undefined;
  if (w.endsWith("ed") && hasVowel(w.slice(0, -2))) stripped = w.slice(0, -2);
  else if (w.endsWith("ing") && hasVowel(w.slice(0, -3))) stripped = w.slice(0, -3);
  if (stripped === undefined) return w;
  w = stripped;
  if (w.endsWith("at") || w.endsWith("bl") || w.endsWith("iz")) return w + "e";
  if (endsDoubleConsonant(w) && !"lsz".includes(w[w.length - 1])) return w.slice(0, -1);
  if (measure(w) === 1 && endsCvc(w)) return w + "e";
  return w;
}

/**
 * Stems one lowercase English word with the original Porter algorithm
 * (steps 1a-5b of the 1980 paper; words of one or two letters are returned
 * as they are).
 *
 * @example
 * ```ts
 * import { porterStem } from "./porter_stemmer.ts";
 * if (porterStem("generalizations") !== "gener") throw new Error("unexpected stem");
 * ```
 * @param word a lowercase word
 * @returns its stem
 */
export function porterStem(word: string): string {
  if (word.length <= 2) return word;
  let w = step1ab(word);
  if (w.endsWith("y") && hasVowel(w.slice(0, -1))) w = w.slice(0, -1) + "i";
  w = applyRules(w, STEP2, (s) => measure(s) > 0);
  w = applyRules(w, STEP3, (s) => measure(s) > 0);
  w = applyRules(
    w,
    STEP4.map((s): Rule => [s, ""]),
    (s) => measure(s) > 1 && (!w.endsWith("ion") || s.endsWith("s") || s.endsWith("t")),
  );
  if (w.endsWith("e")) {
    const stem = w.slice(0, -1);
    const m = measure(stem);
    if (m > 1 || (m === 1 && !endsCvc(stem))) w = stem;
  }
  if (measure(w) > 1 && endsDoubleConsonant(w) && w.endsWith("l")) w = w.slice(0, -1);
  return w;
}

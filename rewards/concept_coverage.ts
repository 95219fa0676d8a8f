/**
 * Concept coverage, CommonGen's own metric (Lin et al. 2020): the share of a
 * set's input concepts that the generated sentence uses. A concept counts when
 * some word of the output has its lemma or Porter stem ("dog" in "dogs",
 * "ski" in "skiing", "run" in "ran"); CommonGen's scorer lemmatises with
 * spaCy, which we approximate with the stemmer and a table of common
 * irregular forms.
 * @module
 */
import { InputError } from "../core/errors.ts";
import { porterStem } from "./porter_stemmer.ts";

/** What {@linkcode conceptCoverage} computes. */
export interface CoverageResult {
  /** Mean over items of each item's share of concepts covered. */
  corpus: number;
  /** Each item's share of its concepts found in its output, in [0, 1]. */
  perItem: number[];
}

// Irregular past tenses, participles and plurals of words CommonGen's concepts use, mapped to
// the lemma; the stemmer handles the regular forms.
const IRREGULAR: Record<string, string> = Object.fromEntries(
  (
    "ate:eat eaten:eat ran:run sat:sit sang:sing sung:sing swam:swim swum:swim drove:drive " +
    "driven:drive rode:ride ridden:ride threw:throw thrown:throw caught:catch taught:teach " +
    "bought:buy brought:bring built:build fought:fight thought:think sought:seek held:hold " +
    "told:tell sold:sell fell:fall fallen:fall flew:fly flown:fly grew:grow grown:grow " +
    "drew:draw drawn:draw blew:blow blown:blow knew:know known:know wore:wear worn:wear " +
    "tore:tear torn:tear took:take taken:take gave:give given:give wrote:write written:write " +
    "spoke:speak spoken:speak broke:break broken:break chose:choose chosen:choose " +
    "woke:wake woken:wake stole:steal stolen:steal froze:freeze frozen:freeze hid:hide " +
    "hidden:hide bit:bite bitten:bite shook:shake shaken:shake went:go gone:go came:come " +
    "saw:see seen:see did:do done:do made:make had:have was:be were:be is:be are:be been:be " +
    "began:begin begun:begin drank:drink drunk:drink rang:ring rung:ring sank:sink sunk:sink " +
    "stood:stand understood:understand got:get gotten:get left:leave lost:lose met:meet " +
    "paid:pay said:say sent:send spent:spend slept:sleep swept:sweep kept:keep felt:feel " +
    "fed:feed led:lead read:read bled:bleed dug:dig hung:hang shot:shoot lit:light " +
    "slid:slide spun:spin stuck:stick struck:strike swung:swing won:win wound:wind " +
    "laid:lay lain:lie found:find forgot:forget forgotten:forget " +
    "men:man women:woman children:child feet:foot teeth:tooth mice:mouse geese:goose " +
    "people:person knives:knife leaves:leaf wolves:wolf lives:life wives:wife halves:half " +
    "shelves:shelf loaves:loaf calves:calf"
  ).split(" ").map((pair) => pair.split(":") as [string, string]),
);

/** The forms a word is matched by: its stem, and its lemma's stem when it is irregular. */
function wordKeys(word: string): string[] {
  const lower = word.toLowerCase();
  const keys = [porterStem(lower)];
  const lemma = IRREGULAR[lower];
  if (lemma) keys.push(porterStem(lemma));
  return keys;
}

/**
 * Concept coverage of each output: the share of its concepts whose lemma or
 * stem matches some word of the output (case-insensitive; a multi-word concept
 * needs each of its words).
 * @param outputs one generated sentence per item
 * @param concepts the concept set of each item (non-empty)
 * @returns the mean and each item's coverage
 * @throws {InputError} when the lists differ in length or a set is empty
 */
export function conceptCoverage(outputs: string[], concepts: string[][]): CoverageResult {
  if (outputs.length !== concepts.length) {
    throw new InputError(
      `expected one concept set per output (${outputs.length}), got ${concepts.length}`,
      "conceptCoverage",
    );
  }
  const perItem = outputs.map((output, i) => {
    const set = concepts[i];
    if (set.length === 0) throw new InputError(`concept set ${i} is empty`, "conceptCoverage");
    const present = new Set((output.match(/[\p{L}\p{N}]+/gu) ?? []).flatMap(wordKeys));
    const covered = set.filter((concept) =>
      (concept.match(/[\p{L}\p{N}]+/gu) ?? []).every((word) =>
        wordKeys(word).some((key) => present.has(key))
      )
    );
    return covered.length / set.length;
  });
  const corpus = perItem.length === 0 ? 0 : perItem.reduce((a, b) => a + b, 0) / perItem.length;
  return { corpus, perItem };
}

import assert from "node:assert/strict";
import { porterStem } from "./porter_stemmer.ts";
import fixture from "../tests/fixtures/metrics/porter_reference.json" with { type: "json" };

Deno.test("porterStem() gives the step examples of Porter's 1980 paper", () => {
  // Paper examples, followed through all steps (e.g. "agreed" -> "agree" in 1b, "agre" in 5a).
  const cases: Record<string, string> = {
    caresses: "caress",
    ponies: "poni",
    ties: "ti",
    cats: "cat",
    feed: "feed",
    agreed: "agre",
    plastered: "plaster",
    bled: "bled",
    motoring: "motor",
    sing: "sing",
    hopping: "hop",
    falling: "fall",
    hissing: "hiss",
    filing: "file",
    happy: "happi",
    sky: "sky",
    relational: "relat",
    conditional: "condit",
    rational: "ration",
    triplicate: "triplic",
    electriciti: "electr",
    revival: "reviv",
    adoption: "adopt",
    controll: "control",
    roll: "roll",
    generalizations: "gener",
  };
  for (const [word, stem] of Object.entries(cases)) assert.equal(porterStem(word), stem, word);
});

Deno.test("porterStem() agrees with NLTK's original-algorithm stems on 400 CommonGen words", () => {
  for (const [word, stem] of Object.entries(fixture.stems)) {
    assert.equal(porterStem(word), stem, word);
  }
});

Deno.test("porterStem() leaves words of one or two letters alone", () => {
  assert.equal(porterStem("as"), "as");
  assert.equal(porterStem("a"), "a");
});

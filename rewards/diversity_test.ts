import assert from "node:assert/strict";
import { diversityMetric, diversityStats, diversityWords } from "./diversity.ts";

Deno.test("diversityWords() lower-cases, drops punctuation and IMDB's <br /> breaks", () => {
  assert.deepEqual(diversityWords("Great film!<br /><br />I didn't like it, 10/10."), [
    "great",
    "film",
    "i",
    "didn't",
    "like",
    "it",
    "10",
    "10",
  ]);
});

Deno.test("diversityStats() by hand: distinct, unique, vocabulary, length, repeated 3-grams", () => {
  // words: [a b a b a] and [a c]
  const s = diversityStats(["A b, a b a.", "a C"]);
  // unigrams: a×4 b×2 c×1 → 3 distinct of 7; once: c
  assert.equal(s.distinct1, 3 / 7);
  assert.equal(s.unique1, 1);
  assert.equal(s.vocabularySize, 3);
  // bigrams: ab ba ab ba | ac → 3 distinct of 5; once: ac
  assert.equal(s.distinct2, 3 / 5);
  assert.equal(s.unique2, 1);
  assert.equal(s.meanLength, 7 / 2);
  // 3-grams of the first: aba bab aba → the third repeats the first; the second has none
  assert.equal(s.repeated3grams, 1 / 3);
});

Deno.test("diversityMetric() names the GRUE statistics; empty generations give zeros", async () => {
  const metrics = await diversityMetric()({ prompts: ["", ""], generations: ["", "..."] });
  assert.deepEqual(Object.keys(metrics).sort(), [
    "diversity/distinct-1",
    "diversity/distinct-2",
    "diversity/mean_length",
    "diversity/repeated_3grams",
    "diversity/unique-1",
    "diversity/unique-2",
    "diversity/vocabulary",
  ]);
  assert.ok(Object.values(metrics).every((v) => v === 0));
});

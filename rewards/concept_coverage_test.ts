import assert from "node:assert/strict";
import { conceptCoverage } from "./concept_coverage.ts";

Deno.test("conceptCoverage() matches concepts by stem and irregular lemma, case-insensitively", () => {
  const r = conceptCoverage(
    ["Three Skiers are skiing down a mountain.", "The dog ran after the ball.", "A cat."],
    [["ski", "mountain", "skier"], ["dog", "run", "ball", "throw"], ["dog", "frisbee"]],
  );
  // 3/3: "skiing" stems to "ski", "skiers" to "skier"; 3/4: "ran" is run's past; 0/2
  assert.deepStrictEqual(r.perItem, [1, 0.75, 0]);
  assert.ok(Math.abs(r.corpus - (1 + 0.75 + 0) / 3) < 1e-12);
});

Deno.test("conceptCoverage() does not count a concept inside another word", () => {
  // "cat" is not in "catch", nor "ski" in "skin"
  assert.deepStrictEqual(conceptCoverage(["They catch a skin."], [["cat", "ski"]]).perItem, [0]);
});

Deno.test("conceptCoverage() names the mismatch of outputs and concept sets", () => {
  assert.throws(() => conceptCoverage(["a"], []), /one concept set per output/);
  assert.throws(() => conceptCoverage(["a"], [[]]), /concept set 0 is empty/);
});

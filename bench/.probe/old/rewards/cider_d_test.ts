import assert from "node:assert/strict";
import { ciderD } from "./cider_d.ts";
import fixture from "../tests/fixtures/metrics/pycoco_reference.json" with { type: "json" };

const TOL = 1e-6;

function assertClose(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= TOL, `${what}: ${actual} vs ${expected}`);
}

for (const [name, set] of Object.entries(fixture.sets)) {
  Deno.test(`ciderD() matches pycocoevalcap on the "${name}" set`, () => {
    const r = ciderD(set.candidates, set.references);
    assertClose(r.corpus, set.ciderD.corpus, "corpus");
    assert.equal(r.perItem.length, set.candidates.length);
    set.ciderD.perItem.forEach((v, i) => assertClose(r.perItem[i], v, `item ${i}`));
  });
}

Deno.test("ciderD() follows the hand-computed tf-idf, clipping and length penalty", () => {
  // Two items, every n-gram in one item's references: idf = log 2 for all of them.
  // Item 0: unigram and bigram cosine 1, no 3/4-grams: mean(1, 1, 0, 0) * 10 = 5.
  // Item 1: "c" vs "c d": unigram cosine 1/√2, bigram lengths 0 vs 1 → penalty e^(-1/72).
  const r = ciderD(["a b", "c"], [["a b"], ["c d"]]);
  assertClose(r.perItem[0], 5, "item 0");
  assertClose(r.perItem[1], 10 * (Math.SQRT1_2 / 4) * Math.exp(-1 / 72), "item 1");
  assertClose(r.corpus, (r.perItem[0] + r.perItem[1]) / 2, "corpus");
});

Deno.test("ciderD() averages over references", () => {
  // The second reference shares nothing with the candidate: half of item 0's score above.
  const r = ciderD(["a b", "c"], [["a b", "x y"], ["c d"]]);
  assert.ok(r.perItem[0] > 0 && r.perItem[0] < 5);
});

Deno.test("ciderD() scores a set of one item 0, as idf is log(1) - log(1)", () => {
  assert.deepEqual(ciderD(["a b"], [["a b"]]).perItem, [0]);
});

import assert from "node:assert/strict";
import { bleu } from "./bleu.ts";
import fixture from "../tests/fixtures/metrics/pycoco_reference.json" with { type: "json" };

const TOL = 1e-6;

function assertClose(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= TOL, `${what}: ${actual} vs ${expected}`);
}

for (const [name, set] of Object.entries(fixture.sets)) {
  Deno.test(`bleu() matches pycocoevalcap on the "${name}" set`, () => {
    const r = bleu(set.candidates, set.references);
    set.bleu.corpus.forEach((v, k) => assertClose(r.corpus[k], v, `corpus BLEU-${k + 1}`));
    assert.equal(r.perItem.length, set.candidates.length);
    set.bleu.perItem.forEach((row, i) =>
      row.forEach((v, k) => assertClose(r.perItem[i][k], v, `item ${i} BLEU-${k + 1}`))
    );
  });
}

Deno.test("bleu() applies the brevity penalty of the closest reference length", () => {
  // All n-grams match; c = 4, closest r = 5 (the 7-word reference is farther), BP = e^(1 - 5/4).
  const r = bleu(["a b c d"], [["a b c d e", "a b c d e f g"]]);
  for (const v of r.perItem[0]) assertClose(v, Math.exp(1 - 5 / 4), "BLEU with BP");
});

Deno.test("bleu() clips counts at the maximum reference count", () => {
  // "the" x4 against a reference with one "the": p1 = 1/4, and no bigram matches.
  const r = bleu(["the the the the"], [["the cat"]]);
  assertClose(r.perItem[0][0], 0.25, "BLEU-1");
  assert.ok(r.perItem[0][1] < 1e-7, "BLEU-2 is the tiny-smoothed ~0");
});

Deno.test("bleu() sums counts over items for the corpus score", () => {
  // Item 1: 2/2 unigrams; item 2: 0/1. Corpus p1 = 2/3; lengths 3 = 3, no penalty.
  const r = bleu(["a b", "z"], [["a b"], ["y"]]);
  assertClose(r.corpus[0], 2 / 3, "corpus BLEU-1");
});

Deno.test("bleu() names the item that has no reference", () => {
  assert.throws(() => bleu(["a"], [[]]), /references\[0\]/);
  assert.throws(() => bleu(["a", "b"], [["a"]]), /one reference list per candidate/);
});

Deno.test("bleu() splits words on any whitespace run, as Python's str.split()", () => {
  const a = bleu(["a  b\tc\u3000d\x1ce"], [["a b c d e"]]);
  assert.deepEqual(a.perItem[0].map((v) => Math.abs(v - 1) < 1e-6), [true, true, true, true]);
});

import assert from "node:assert/strict";
import { lcsLength, rougeL } from "./rouge_l.ts";
import fixture from "../tests/fixtures/metrics/pycoco_reference.json" with { type: "json" };

const TOL = 1e-6;

function assertClose(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= TOL, `${what}: ${actual} vs ${expected}`);
}

for (const [name, set] of Object.entries(fixture.sets)) {
  Deno.test(`rougeL() matches pycocoevalcap on the "${name}" set`, () => {
    const r = rougeL(set.candidates, set.references);
    assertClose(r.corpus, set.rougeL.corpus, "corpus");
    set.rougeL.perItem.forEach((v, i) => assertClose(r.perItem[i], v, `item ${i}`));
  });
}

Deno.test("rougeL() combines LCS precision and recall with beta 1.2", () => {
  // LCS("a b c d", "a x c d y") = 3: P = 3/4, R = 3/5.
  const p = 3 / 4, rec = 3 / 5, b2 = 1.44;
  const r = rougeL(["a b c d"], [["a x c d y"]]);
  assertClose(r.perItem[0], ((1 + b2) * p * rec) / (rec + b2 * p), "F");
});

Deno.test("rougeL() takes precision and recall maxima over references separately", () => {
  // Ref 1 gives P = 1 (LCS 2 of 2), ref 2 gives R = 1 (LCS 1 of 1); F from (1, 1) = 1.
  const r = rougeL(["a b"], [["a b c d", "b"]]);
  assertClose(r.perItem[0], 1, "F");
});

Deno.test("lcsLength() finds the longest common subsequence", () => {
  assert.equal(lcsLength("a b c b d a b".split(" "), "b d c a b a".split(" ")), 4);
  assert.equal(lcsLength([], ["a"]), 0);
});

import assert from "node:assert/strict";
import { meteor, meteorAlign } from "./meteor.ts";

const TOL = 1e-12;

/** METEOR 2005 by hand: Fmean = 10PR / (R + 9P), penalty 0.5 (chunks / matches)^3. */
function byHand(m: number, candLen: number, refLen: number, chunks: number): number {
  const p = m / candLen;
  const r = m / refLen;
  return ((10 * p * r) / (r + 9 * p)) * (1 - 0.5 * (chunks / m) ** 3);
}

Deno.test("meteorAlign() reproduces Banerjee and Lavie's example", () => {
  // 6 matches, 2 chunks ("the president" | "spoke to the audience").
  const a = meteorAlign(
    "the president spoke to the audience".split(" "),
    "the president then spoke to the audience".split(" "),
  );
  assert.equal(a.chunks, 2);
  assert.equal(a.exact, 6);
  assert.ok(Math.abs(a.score - byHand(6, 6, 7, 2)) < TOL);
  assert.ok(Math.abs(a.score - 0.8534621578) < 1e-9);
});

Deno.test("meteorAlign() picks the alignment with the fewest chunks", () => {
  // Matching "the" to the second "the" of the reference gives one chunk, not two.
  const a = meteorAlign("the cat sat".split(" "), "the dog the cat sat".split(" "));
  assert.equal(a.chunks, 1);
  assert.ok(Math.abs(a.score - byHand(3, 3, 5, 1)) < TOL);
});

Deno.test("meteorAlign() matches Porter stems after exact words", () => {
  const a = meteorAlign("dogs running".split(" "), "dog runs".split(" "));
  assert.deepEqual([a.exact, a.stem, a.chunks], [0, 2, 1]);
  assert.ok(Math.abs(a.score - 0.9375) < TOL);
});

Deno.test("meteorAlign() prefers exact matches over stem matches", () => {
  // "runs" can match "runs" exactly or "running" by stem; the exact pair wins.
  const a = meteorAlign("runs".split(" "), "running runs".split(" "));
  assert.deepEqual([a.exact, a.stem], [1, 0]);
});

Deno.test("meteor() takes the best reference and scores no overlap 0", () => {
  const r = meteor(
    ["the cat sat", "purple elephants"],
    [["a dog", "the cat sat"], ["a boy kicks a ball"]],
  );
  assert.ok(Math.abs(r.perItem[0] - byHand(3, 3, 3, 1)) < TOL);
  assert.equal(r.perItem[1], 0);
  assert.ok(Math.abs(r.corpus - r.perItem[0] / 2) < TOL);
});

Deno.test("meteorAlign() stays within its search budget on repetitive text", () => {
  const c = Array.from({ length: 60 }, (_, i) => ["a", "b", "c"][i % 3]);
  const ref = Array.from({ length: 60 }, (_, i) => ["c", "a", "b"][i % 3]);
  const a = meteorAlign(c, ref, { maxSearchNodes: 5000 });
  assert.equal(a.exact, 60);
  assert.ok(a.chunks >= 1 && a.chunks <= 60);
});

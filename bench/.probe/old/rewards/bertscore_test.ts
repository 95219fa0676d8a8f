import assert from "node:assert/strict";
import { bertScoreIdf, greedyCosineMatch } from "./bertscore.ts";

const close = (a: number, b: number, tol = 1e-12) => Math.abs(a - b) <= tol;

Deno.test("greedyCosineMatch() takes the best cosine per token on each side", () => {
  // Candidate tokens: x and the diagonal; reference tokens: x, y and -x.
  // cos(x, x) = 1, cos(d, x) = cos(d, y) = 1/√2, cos(·, -x) = -1 or -1/√2.
  const cand = [[2, 0], [1, 1]];
  const ref = [[1, 0], [0, 3], [-1, 0]];
  const s = greedyCosineMatch(cand, ref);
  const p = (1 + Math.SQRT1_2) / 2;
  const r = (1 + Math.SQRT1_2 + -Math.SQRT1_2) / 3;
  assert.ok(close(s.precision, p));
  assert.ok(close(s.recall, r));
  assert.ok(close(s.f1, (2 * p * r) / (p + r)));
});

Deno.test("greedyCosineMatch() weights tokens by the given weights", () => {
  const cand = [[1, 0], [1, 1]];
  const ref = [[1, 0]];
  const s = greedyCosineMatch(cand, ref, { candidate: [3, 1], reference: [2] });
  assert.ok(close(s.precision, (3 * 1 + 1 * Math.SQRT1_2) / 4));
  assert.ok(close(s.recall, 1));
});

Deno.test("greedyCosineMatch() gives F1 0 where all weights are 0, as bert_score masks NaN", () => {
  const s = greedyCosineMatch([[1, 0]], [[1, 0]], { candidate: [0], reference: [0] });
  assert.ok(Number.isNaN(s.precision));
  assert.equal(s.f1, 0);
});

Deno.test("greedyCosineMatch() rejects mismatched sizes", () => {
  assert.throws(() => greedyCosineMatch([[1, 0]], [[1, 0, 0]]), /size 2/);
  assert.throws(() => greedyCosineMatch([], [[1]]), RangeError);
  assert.throws(
    () => greedyCosineMatch([[1]], [[1]], { candidate: [1, 2] }),
    /1 candidate weights/,
  );
});

Deno.test("bertScoreIdf() follows bert_score's log((M + 1) / (df + 1))", () => {
  const idf = bertScoreIdf([[1, 2, 2], [2, 3], [4]], [4]);
  assert.ok(close(idf(1), Math.log(4 / 2)));
  assert.ok(close(idf(2), Math.log(4 / 3))); // counted once per sentence
  assert.ok(close(idf(99), Math.log(4)));
  assert.equal(idf(4), 0);
});

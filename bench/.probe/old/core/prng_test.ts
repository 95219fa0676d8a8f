import assert from "node:assert/strict";
import { Rng } from "./prng.ts";

Deno.test("Rng gives the same sequence for the same seed and path", () => {
  const a = new Rng(7).child("x");
  const b = new Rng(7).child("x");
  for (let i = 0; i < 100; i++) assert.equal(a.uint32(), b.uint32());
});

Deno.test("Rng.child() does not depend on the parent's draws", () => {
  const parent = new Rng(7);
  const before = parent.child("stage").random();
  for (let i = 0; i < 10; i++) parent.random();
  assert.equal(parent.child("stage").random(), before);
  assert.notEqual(new Rng(7).child("other").random(), before);
});

Deno.test("Rng.random() is uniform on [0, 1) (mean and variance)", () => {
  const rng = new Rng(1);
  const n = 100_000;
  let sum = 0;
  let sumSq = 0;
  for (let i = 0; i < n; i++) {
    const x = rng.random();
    assert.ok(x >= 0 && x < 1);
    sum += x;
    sumSq += x * x;
  }
  const mean = sum / n;
  // Standard error of the mean is sqrt(1/12/n) = 0.0009; allow 5 of them.
  assert.ok(Math.abs(mean - 0.5) < 0.0046, `mean ${mean}`);
  assert.ok(Math.abs(sumSq / n - mean * mean - 1 / 12) < 0.002);
});

Deno.test("Rng.int() covers [0, n) evenly (chi-square)", () => {
  const rng = new Rng(3);
  const n = 7;
  const counts = new Array(n).fill(0);
  const draws = 70_000;
  for (let i = 0; i < draws; i++) counts[rng.int(n)]++;
  const expected = draws / n;
  const chi2 = counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
  // 6 degrees of freedom: P(chi2 > 22.46) = 0.001.
  assert.ok(chi2 < 22.46, `chi2 ${chi2}`);
});

Deno.test("Rng.getState() and fromState() resume the exact sequence", () => {
  const rng = new Rng(11).child("a");
  for (let i = 0; i < 5; i++) rng.uint32();
  const resumed = Rng.fromState(JSON.parse(JSON.stringify(rng.getState())));
  for (let i = 0; i < 20; i++) assert.equal(resumed.uint32(), rng.uint32());
});

Deno.test("Rng rejects a negative or fractional seed", () => {
  assert.throws(() => new Rng(-1), RangeError);
  assert.throws(() => new Rng(1.5), RangeError);
});

import assert from "node:assert/strict";
import { firstValueFrom, of } from "rxjs";
import { Rng } from "../core/prng.ts";
import { rollInCoins, sampleSwitchPoint, switchPoints } from "./switch_points.ts";
import type { PromptBatch, RollInFields } from "./types.ts";

Deno.test("sampleSwitchPoint() follows the spec's distribution (P(k=0) = 1-β, else uniform 1..L-1)", () => {
  const rng = new Rng(3);
  const beta = 0.3, length = 5, n = 200_000;
  const counts = new Array(length).fill(0);
  for (let i = 0; i < n; i++) counts[sampleSwitchPoint(length, beta, rng)]++;
  // Each frequency is a binomial share; allow 5 standard errors.
  const expect = [1 - beta, ...new Array(length - 1).fill(beta / (length - 1))];
  expect.forEach((p, k) => {
    const se = Math.sqrt(p * (1 - p) / n);
    assert.ok(
      Math.abs(counts[k] / n - p) < 5 * se,
      `P(k=${k}) = ${counts[k] / n}, expected ${p} ± ${5 * se}`,
    );
  });
});

Deno.test("sampleSwitchPoint() returns 0 when the roll-in has fewer than 2 tokens", () => {
  const rng = new Rng(1);
  for (let i = 0; i < 1000; i++) {
    assert.equal(sampleSwitchPoint(0, 1, rng), 0);
    assert.equal(sampleSwitchPoint(1, 1, rng), 0);
  }
});

Deno.test("sampleSwitchPoint() with a mix of lengths gives P(k=0) = 1-β+β·P(L<2)", () => {
  const rng = new Rng(11);
  const lengths = [0, 1, 4, 6]; // P(L<2) = 0.5
  const beta = 0.8, n = 100_000;
  let zeros = 0;
  for (let i = 0; i < n; i++) if (sampleSwitchPoint(lengths[i % 4], beta, rng) === 0) zeros++;
  const p = 1 - beta + beta * 0.5;
  assert.ok(Math.abs(zeros / n - p) < 5 * Math.sqrt(p * (1 - p) / n), `P(k=0) = ${zeros / n}`);
});

Deno.test("sampleSwitchPoint() with beta 0 and 1", () => {
  const rng = new Rng(2);
  for (let i = 0; i < 1000; i++) {
    assert.equal(sampleSwitchPoint(10, 0, rng), 0);
    const k = sampleSwitchPoint(10, 1, rng);
    assert.ok(k >= 1 && k <= 9);
  }
  assert.throws(() => sampleSwitchPoint(3, 1.5, rng), /Beta must be in \[0, 1\]/);
});

function batch(rollInPolicy: "guide" | null, lengths: number[]): PromptBatch & RollInFields {
  return {
    iteration: 4,
    batchIndex: 0,
    recordIds: lengths.map((_, i) => `r${i}`),
    prompts: lengths.map(() => "p"),
    promptIds: lengths.map(() => [1]),
    references: lengths.map(() => []),
    referenceIds: lengths.map(() => []),
    rollInPolicy,
    rollInTokens: lengths.map((n) => new Array(n).fill(2)),
  };
}

Deno.test("switchPoints() is reproducible by seed and depends on the iteration", async () => {
  const lengths = new Array(64).fill(8);
  const run = async (seed: number, iteration: number) =>
    (await firstValueFrom(
      of({ ...batch("guide", lengths), iteration }).pipe(
        switchPoints({ beta: 0.5, rng: new Rng(seed).child("switch-points") }),
      ),
    )).switchPoints;
  assert.deepEqual(await run(9, 4), await run(9, 4));
  assert.notDeepEqual(await run(9, 4), await run(10, 4));
  assert.notDeepEqual(await run(9, 4), await run(9, 5));
});

Deno.test("switchPoints() gives k = 0 everywhere without a roll-in", async () => {
  const out = await firstValueFrom(
    of(batch(null, [0, 0, 0])).pipe(switchPoints({ beta: 1, rng: new Rng(1) })),
  );
  assert.deepEqual(out.switchPoints, [0, 0, 0]);
});

Deno.test("switchPoints() accepts a custom sampler and checks its output", async () => {
  const half = (length: number) => Math.floor(length / 2);
  const out = await firstValueFrom(
    of(batch("guide", [8, 5, 1])).pipe(switchPoints({ beta: 0, rng: new Rng(1), sampler: half })),
  );
  assert.deepEqual(out.switchPoints, [4, 2, 0]);
  await assert.rejects(
    firstValueFrom(
      of(batch("guide", [3])).pipe(switchPoints({ beta: 0, rng: new Rng(1), sampler: () => 3 })),
    ),
    /Switch point must be an integer in \[0, 2\], got 3/,
  );
});

Deno.test("rollInCoins() then switchPoints(): the spec's distribution, the coin drawn before the roll-in", async () => {
  const n = 4000, beta = 0.3, length = 6;
  const rng = new Rng(21).child("switch-points");
  const coined = await firstValueFrom(
    of(batch("guide", new Array(n).fill(length))).pipe(
      rollInCoins({ beta, rng }),
      switchPoints({ beta, rng }),
    ),
  );
  const wanted = coined.rollInWanted.filter(Boolean).length;
  assert.ok(Math.abs(wanted / n - beta) < 0.03, `P(roll-in) ${wanted / n}`);
  coined.switchPoints.forEach((k, i) => {
    if (!coined.rollInWanted[i]) assert.equal(k, 0);
    else assert.ok(k >= 1 && k <= length - 1, `k ${k}`);
  });
  // the positions of the rolled-in rows are uniform on 1..L-1
  const counts = new Array(length).fill(0);
  coined.switchPoints.forEach((k, i) => coined.rollInWanted[i] && counts[k]++);
  for (let k = 1; k < length; k++) {
    assert.ok(Math.abs(counts[k] / wanted - 1 / (length - 1)) < 0.04, `P(k=${k})`);
  }
  // a custom sampler sees every row's roll-in
  const custom = await firstValueFrom(
    of(batch("guide", [4, 4])).pipe(rollInCoins({ beta: 0, rng, sampler: () => 1 })),
  );
  assert.deepEqual(custom.rollInWanted, [true, true]);
});

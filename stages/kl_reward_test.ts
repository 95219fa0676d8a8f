import assert from "node:assert/strict";
import { firstValueFrom, of } from "rxjs";
import { klReward } from "./kl_reward.ts";
import type { LogProbFields, RewardFields } from "./types.ts";

const batch: LogProbFields & RewardFields = {
  logProbs: [[-1, -2, -0.5], [-3]],
  refLogProbs: [[-1.5, -1, -0.5], [-2]],
  taskRewards: [10, 20],
};

Deno.test("klReward() gives -c (log π - log π_ref) per token and R at the last token", async () => {
  const out = await firstValueFrom(of(batch).pipe(klReward({ coef: () => 0.1, enabled: true })));
  const close = (a: number[][], b: number[][]) =>
    a.forEach((row, i) => row.forEach((x, t) => assert.ok(Math.abs(x - b[i][t]) < 1e-12)));
  close(out.klRewards, [[-0.05, 0.1, 0], [0.1]]);
  close(out.rewards, [[-0.05, 0.1, 10], [20.1]]);
  assert.deepEqual(out.kl, [-0.5, -1]);
  assert.equal(out.klCoef, 0.1);
});

Deno.test("klReward() turned off keeps only the task reward but still reports the KL", async () => {
  const out = await firstValueFrom(of(batch).pipe(klReward({ coef: () => 0.1, enabled: false })));
  assert.deepEqual(out.rewards, [[0, 0, 10], [20]]);
  assert.deepEqual(out.kl, [-0.5, -1]);
  assert.equal(out.klCoef, 0);
});

Deno.test("klReward() with the k3 estimator penalises e^(-d) - 1 + d per token, never negative", async () => {
  const out = await firstValueFrom(
    of(batch).pipe(klReward({ coef: () => 0.1, enabled: true, estimator: "k3" })),
  );
  // d = log π - log π_ref: row 0 (0.5, -1, 0), row 1 (-1); k3(d) by hand
  const k3 = (d: number) => Math.exp(-d) - 1 + d;
  const expected = [[k3(0.5), k3(-1), 0], [k3(-1)]];
  out.klRewards.forEach((row, i) =>
    row.forEach((r, t) => assert.ok(Math.abs(r + 0.1 * expected[i][t]) < 1e-12))
  );
  assert.ok(Math.abs(out.rewards[1][0] - (20 - 0.1 * (Math.E - 2))) < 1e-12);
  assert.ok(Math.abs(out.kl[0] - (Math.exp(-0.5) - 0.5 + Math.E - 2)) < 1e-12);
  assert.ok(out.kl.every((k) => k >= 0));
});

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

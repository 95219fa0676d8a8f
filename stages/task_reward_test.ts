import assert from "node:assert/strict";
import { firstValueFrom, of } from "rxjs";
import type { ScoringBatch } from "../rewards/types.ts";
import { taskReward } from "./task_reward.ts";
import type { PromptBatch, RollOutFields } from "./types.ts";

const batch = {
  recordIds: ["r0", "r1"],
  prompts: ["p0", "p1"],
  generations: ["g0", "g1"],
  references: [["ref0"], []],
} as unknown as PromptBatch & RollOutFields;

Deno.test("taskReward() scores prompts, generations and references", async () => {
  let seen: ScoringBatch | undefined;
  const out = await firstValueFrom(
    of(batch).pipe(taskReward((b) => {
      seen = b;
      return Promise.resolve([0.5, -1]);
    })),
  );
  assert.deepEqual(out.taskRewards, [0.5, -1]);
  assert.deepEqual(seen, {
    prompts: ["p0", "p1"],
    generations: ["g0", "g1"],
    references: [["ref0"], []],
  });
});

Deno.test("taskReward() names the row of a non-finite reward", async () => {
  await assert.rejects(
    firstValueFrom(of(batch).pipe(taskReward(() => Promise.resolve([1, NaN])))),
    /Reward function returned NaN for prompt "r1" \(row 1, generation "g1"\); expected a finite number$/,
  );
  const long = { ...batch, generations: ["g0", "x".repeat(500) + "\nmore"] };
  await assert.rejects(
    firstValueFrom(of(long).pipe(taskReward(() => Promise.resolve([1, -Infinity])))),
    (e: Error) =>
      e.message.startsWith('Reward function returned -Infinity for prompt "r1"') &&
      !e.message.includes("\n") && e.message.length < 200,
  );
  await assert.rejects(
    firstValueFrom(of(batch).pipe(taskReward(() => Promise.resolve([1])))),
    /must return 2 scores, got 1/,
  );
});

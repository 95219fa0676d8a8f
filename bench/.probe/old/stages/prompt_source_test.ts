import assert from "node:assert/strict";
import { from, lastValueFrom, toArray } from "rxjs";
import { Rng } from "../core/prng.ts";
import { ToyTokenizer } from "../tasks/toy.ts";
import { promptSource } from "./prompt_source.ts";

const records = Array.from({ length: 10 }, (_, i) => ({
  id: `r${i}`,
  prompt: "bdeg"[i % 4].repeat(1 + (i % 5)),
  references: i % 2 ? ["cafe"] : [],
}));
const options = (seed: number) => ({
  tokenizer: new ToyTokenizer(),
  batchSize: 4,
  batchesPerIteration: 2,
  maxPromptTokens: 3,
  maxNewTokens: 2,
  rng: new Rng(seed),
});

Deno.test("promptSource() visits every record once per pass, in a seeded order", async () => {
  const batches = await lastValueFrom(
    from([0, 1, 2, 3, 4]).pipe(promptSource(records, options(1)), toArray()),
  );
  assert.equal(batches.length, 10);
  assert.deepEqual(batches.slice(0, 2).map((b) => [b.iteration, b.batchIndex]), [[0, 0], [0, 1]]);
  const ids = batches.flatMap((b) => b.recordIds);
  for (let pass = 0; pass < 4; pass++) {
    assert.deepEqual(ids.slice(pass * 10, pass * 10 + 10).sort(), records.map((r) => r.id).sort());
  }
  const again = await lastValueFrom(
    from([0, 1, 2, 3, 4]).pipe(promptSource(records, options(1)), toArray()),
  );
  assert.deepEqual(again, batches);
  const other = await lastValueFrom(
    from([0, 1, 2, 3, 4]).pipe(promptSource(records, options(2)), toArray()),
  );
  assert.notDeepEqual(other.flatMap((b) => b.recordIds), ids);
});

Deno.test("promptSource() batches are a pure function of the iteration (resumable)", async () => {
  const all = await lastValueFrom(
    from([0, 1, 2, 3]).pipe(promptSource(records, options(1)), toArray()),
  );
  const third = await lastValueFrom(from([3]).pipe(promptSource(records, options(1)), toArray()));
  assert.deepEqual(third, all.slice(6, 8));
});

Deno.test("promptSource() left-truncates prompts and cuts references to H", async () => {
  const [batch] = await lastValueFrom(
    from([0]).pipe(
      promptSource([{ id: "long", prompt: "bdegb", references: [] }, records[1]], {
        ...options(1),
        batchSize: 2,
        batchesPerIteration: 1,
      }),
      toArray(),
    ),
  );
  const byId = Object.fromEntries(batch.recordIds.map((id, i) => [id, i]));
  assert.deepEqual(batch.promptIds[byId.long], [5, 7, 2]); // "bdegb" → "egb"
  assert.deepEqual(batch.referenceIds[byId.r1], [3, 1]); // "cafe" → "ca"
  assert.deepEqual(batch.referenceIds[byId.long], []);
});

Deno.test("promptSource() rejects an empty task and an empty prompt", () => {
  assert.throws(() => promptSource([], options(1)), /Task has no prompt records/);
});

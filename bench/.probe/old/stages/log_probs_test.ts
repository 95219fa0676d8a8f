import assert from "node:assert/strict";
import { firstValueFrom, of } from "rxjs";
import type { CausalLM, ValueModel } from "../models/types.ts";
import { logProbs } from "./log_probs.ts";
import type { PromptBatch, RollOutFields } from "./types.ts";
import { values } from "./values.ts";

const batch = {
  promptIds: [[1], [2]],
  tokens: [[3, 4], [5]],
} as unknown as PromptBatch & RollOutFields;

/** A model whose log-prob of token x is -x / scale. */
const model = (scale: number) =>
  ({
    continuationLogProbs: (_p: number[][], c: number[][]) =>
      Promise.resolve(c.map((row) => row.map((x) => -x / scale))),
  }) as unknown as CausalLM;

Deno.test("logProbs() scores every token under the learner and the reference", async () => {
  const out = await firstValueFrom(
    of(batch).pipe(logProbs({ learner: model(1), reference: model(2) })),
  );
  assert.deepEqual(out.logProbs, [[-3, -4], [-5]]);
  assert.deepEqual(out.refLogProbs, [[-1.5, -2], [-2.5]]);
});

Deno.test("logProbs() without a reference copies the learner's (zero KL)", async () => {
  const out = await firstValueFrom(
    of(batch).pipe(logProbs({ learner: model(1), reference: null })),
  );
  assert.deepEqual(out.refLogProbs, out.logProbs);
  assert.notEqual(out.refLogProbs[0], out.logProbs[0]);
});

Deno.test("logProbs() and values() reject outputs of the wrong length, naming the row", async () => {
  const short = {
    continuationLogProbs: () => Promise.resolve([[0, 0], []]),
  } as unknown as CausalLM;
  await assert.rejects(
    firstValueFrom(of(batch).pipe(logProbs({ learner: short, reference: null }))),
    /The learner returned 0 log-probs for row 1 of 1 tokens/,
  );
  const critic = { values: () => Promise.resolve([[0], [0]]) } as unknown as ValueModel;
  await assert.rejects(
    firstValueFrom(of(batch).pipe(values({ critic, name: "guide" }))),
    /The guide critic returned 1 values for row 0 of 2 tokens/,
  );
});

Deno.test("values() records which critic produced the values", async () => {
  const critic = {
    values: (_p: number[][], c: number[][]) => Promise.resolve(c.map((r) => r.map(() => 0.5))),
  } as unknown as ValueModel;
  const out = await firstValueFrom(of(batch).pipe(values({ critic, name: "guide" })));
  assert.equal(out.critic, "guide");
  assert.deepEqual(out.values, [[0.5, 0.5], [0.5]]);
});

import assert from "node:assert/strict";
import { firstValueFrom, of } from "rxjs";
import { Rng } from "../core/prng.ts";
import type { GenerateOptions, TokenGenerator } from "../models/types.ts";
import { ToyTokenizer } from "../tasks/toy.ts";
import { rollIn } from "./roll_in.ts";
import { rollOut } from "./roll_out.ts";
import { switchPoints } from "./switch_points.ts";
import type { GenerationConfig, PromptBatch } from "./types.ts";

/** A policy that always writes `token` and records what it was asked. */
function constant(token: number, calls: { inputs: number[][]; options: GenerateOptions }[]) {
  return {
    generate(inputs: number[][], options: GenerateOptions) {
      calls.push({ inputs, options });
      const max = options.maxNewTokens;
      return Promise.resolve(
        inputs.map((_, i) => new Array(Array.isArray(max) ? max[i] : max).fill(token)),
      );
    },
  } satisfies TokenGenerator;
}

const generation: GenerationConfig = {
  maxNewTokens: 4,
  minNewTokens: 3,
  topK: 0,
  topP: 1,
  temperature: 1,
  eosTokenId: null,
};

const prompts: PromptBatch = {
  iteration: 0,
  batchIndex: 0,
  recordIds: ["a", "b", "c"],
  prompts: ["b", "d", "e"],
  promptIds: [[2], [4], [5]],
  references: [[], [], []],
  referenceIds: [[], [], []],
};

Deno.test("rollOut() re-enters prompt + first k roll-in tokens and completes to H", async () => {
  const guideCalls: { inputs: number[][]; options: GenerateOptions }[] = [];
  const learnerCalls: { inputs: number[][]; options: GenerateOptions }[] = [];
  const out = await firstValueFrom(
    of(prompts).pipe(
      rollIn({ policy: constant(3, guideCalls), name: "guide", generation, rng: new Rng(1) }),
      switchPoints({ beta: 0, rng: new Rng(1), sampler: (_, rng) => [0, 1, 3][rng.int(3)] }),
      rollOut({
        policy: constant(1, learnerCalls),
        name: "learner",
        tokenizer: new ToyTokenizer(),
        generation,
        rng: new Rng(2),
      }),
    ),
  );
  out.tokens.forEach((row, i) => {
    const k = out.switchPoints[i];
    assert.equal(row.length, 4);
    assert.deepEqual(row, [...new Array(k).fill(3), ...new Array(4 - k).fill(1)]);
    assert.equal(out.generations[i], "c".repeat(k) + "a".repeat(4 - k));
  });
  // The learner saw the prompt plus the prefix and was asked for H - k tokens, with the
  // minimum length shortened by k, all in one call (lengths per row).
  const asked = learnerCalls.flatMap((c) =>
    c.inputs.map((input, j) => ({
      input,
      max: (c.options.maxNewTokens as number[])[j],
      min: (c.options.minNewTokens as number[])[j],
    }))
  );
  for (const [i, k] of out.switchPoints.entries()) {
    const call = asked.find((a) => a.input[0] === prompts.promptIds[i][0])!;
    assert.deepEqual(call.input, [prompts.promptIds[i][0], ...new Array(k).fill(3)]);
    assert.equal(call.max, 4 - k);
    assert.equal(call.min, Math.max(0, 3 - k));
  }
  assert.equal(learnerCalls.length, 1);
  assert.equal(out.rollInPolicy, "guide");
  assert.equal(out.rollOutPolicy, "learner");
  assert.ok(learnerCalls.every((c) => c.options.doSample && c.options.eosTokenId === null));
});

Deno.test("rollOut() hands a seq2seq policy its restart prefix as the decoder's, not after the prompt", async () => {
  const calls: { inputs: number[][]; options: GenerateOptions }[] = [];
  const seq2seq = { ...constant(1, calls), seq2seq: true };
  const out = await firstValueFrom(
    of(prompts).pipe(
      rollIn({ policy: constant(3, []), name: "guide", generation, rng: new Rng(1) }),
      switchPoints({ beta: 0, rng: new Rng(1), sampler: (_, rng) => [0, 1, 3][rng.int(3)] }),
      rollOut({
        policy: seq2seq,
        name: "learner",
        tokenizer: new ToyTokenizer(),
        generation,
        rng: new Rng(2),
      }),
    ),
  );
  const [call] = calls;
  const rows = out.switchPoints.flatMap((k, i) => (k < 4 ? [i] : []));
  assert.deepEqual(call.inputs, rows.map((i) => prompts.promptIds[i])); // the prompts alone
  assert.deepEqual(call.options.prefixes, rows.map((i) => new Array(out.switchPoints[i]).fill(3)));
  out.tokens.forEach((row, i) => {
    const k = out.switchPoints[i];
    assert.deepEqual(row, [...new Array(k).fill(3), ...new Array(4 - k).fill(1)]);
  });
});

Deno.test("rollIn() without a policy leaves every roll-in empty (PPO)", async () => {
  const out = await firstValueFrom(
    of(prompts).pipe(rollIn({ policy: null, name: null, generation, rng: new Rng(1) })),
  );
  assert.equal(out.rollInPolicy, null);
  assert.deepEqual(out.rollInTokens, [[], [], []]);
});

Deno.test("rollIn() rolls in only the rows whose coin wants it", async () => {
  const calls: { inputs: number[][]; options: GenerateOptions }[] = [];
  const out = await firstValueFrom(
    of({ ...prompts, rollInWanted: [false, true, false] }).pipe(
      rollIn({ policy: constant(7, calls), name: "guide", generation, rng: new Rng(1) }),
    ),
  );
  assert.deepEqual(out.rollInTokens, [[], [7, 7, 7, 7], []]);
  assert.deepEqual(calls.map((c) => c.inputs), [[[4]]], "the guide sampled one row");
});

Deno.test("rollIn() and rollOut() reject a policy that returns too many tokens", async () => {
  const greedy: TokenGenerator = {
    generate: (inputs) => Promise.resolve(inputs.map(() => [1, 1, 1, 1, 1])),
  };
  await assert.rejects(
    firstValueFrom(
      of(prompts).pipe(rollIn({ policy: greedy, name: "guide", generation, rng: new Rng(1) })),
    ),
    /Policy returned 5 tokens for row 0, more than its 4/,
  );
});

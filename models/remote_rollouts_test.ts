/**
 * `remoteSampling` with served log-probs: rows a server sampled whole take its log-probs and are
 * not scored here; rows it sampled in part (a guide's roll-in before them, an EOS it left out)
 * are scored here with the served values spliced in; rows it never saw are the policy's.
 */
import assert from "node:assert/strict";
import { remoteSampling, type ServedLogProbs } from "./remote_rollouts.ts";
import type { PolicyLM } from "./types.ts";

/** A policy whose log-prob of every token is −(its position + 1) and that counts what it scores. */
function countingPolicy() {
  const scored: number[][] = [];
  const policy = {
    generate: () => Promise.resolve([]),
    continuationLogProbs: (_prompts: number[][], continuations: number[][]) => {
      scored.push(...continuations);
      return Promise.resolve(continuations.map((c) => c.map((_, t) => -(t + 1))));
    },
    forwardContinuation: () => {
      throw new Error("not used");
    },
    trainableVariables: () => [],
    clone: () => policy,
    dispose: () => {},
  } as unknown as PolicyLM;
  return { policy, scored };
}

Deno.test("remoteSampling: served log-probs replace the recompute where the server sampled", async () => {
  const { policy, scored } = countingPolicy();
  const served = new Map<string, ServedLogProbs>([
    // row 0: prompt [1, 2], sampled [7, 8] whole
    ["1,2,7,8", { from: 2, logProbs: [-0.5, -0.25] }],
    // row 1: prompt [3], a guide's roll-in [4], then the server sampled [9, 0] but not the EOS 5
    ["3,4,9,0,5", { from: 2, logProbs: [-0.125, -2] }],
  ]);
  const combined = remoteSampling(policy, policy, (seq) => served.get(seq.join(",")) ?? null);
  const got = await combined.continuationLogProbs(
    [[1, 2], [3], [6]],
    [[7, 8], [4, 9, 0, 5], [6, 6]],
  );
  assert.deepEqual(got, [[-0.5, -0.25], [-1, -0.125, -2, -4], [-1, -2]]);
  // only the rows not sampled whole were scored here
  assert.deepEqual(scored, [[4, 9, 0, 5], [6, 6]]);
});

Deno.test("remoteSampling: without served log-probs everything is the policy's", async () => {
  const { policy, scored } = countingPolicy();
  const combined = remoteSampling(policy, policy);
  assert.deepEqual(await combined.continuationLogProbs([[1]], [[2, 3]]), [[-1, -2]]);
  assert.deepEqual(scored, [[2, 3]]);
});

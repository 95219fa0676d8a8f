/**
 * A user-composed algorithm from the same stages: PPO++ whose restart point is a
 * fixed fraction (half) of the guide's roll-in instead of a random draw.
 */
import assert from "node:assert/strict";
import { lastValueFrom, of, toArray } from "rxjs";
import { initBackend } from "../models/backend.ts";
import {
  checkPhase,
  collectTrajectories,
  type Phase,
  runIterations,
} from "../pipelines/iteration.ts";
import { disposeAlgorithmState } from "../pipelines/state.ts";
import { promptSource } from "../stages/prompt_source.ts";
import { toyGuide, toySparseTask, ToyTokenizer } from "../tasks/toy.ts";
import { toyOptions, toyState } from "./_toy_setup.ts";

await initBackend();

const halfway: Phase = {
  name: "ppo++-halfway",
  rollIn: "guide",
  rollOut: "learner",
  beta: 1,
  switchPoint: (rollInLength) => Math.floor(rollInLength / 2),
  policyMask: "suffix",
  valueMask: "suffix",
  critic: "learner",
};

Deno.test("a custom phase restarts at half the roll-in and learns on the learner's suffix", async () => {
  const options = toyOptions({ iterations: 2, generation: { maxNewTokens: 5 } });
  options.generation.eosTokenId = null;
  const tokenizer = new ToyTokenizer();
  const state = await toyState(toySparseTask(), 1, options, { guide: toyGuide("caf", tokenizer) });
  try {
    const [batch] = await lastValueFrom(
      of(0).pipe(
        promptSource(state.records, {
          tokenizer,
          batchSize: 8,
          maxPromptTokens: 8,
          maxNewTokens: 5,
          rng: state.rng.child("prompts"),
        }),
        collectTrajectories(state, halfway, options),
        toArray(),
      ),
    );
    batch.switchPoints.forEach((k, i) => {
      assert.equal(k, 2); // floor(5 / 2)
      assert.deepEqual(batch.tokens[i].slice(0, k), batch.rollInTokens[i].slice(0, k));
      assert.equal(tokenizer.decode(batch.tokens[i].slice(0, k)), "ca"); // the guide's prefix
      assert.deepEqual(batch.policyMask[i], [0, 0, 1, 1, 1]);
    });
    const metrics = await lastValueFrom(
      runIterations(state, options, () => halfway, { clock: () => 0 }).pipe(toArray()),
    );
    assert.deepEqual(metrics.map((m) => m.phase), ["ppo++-halfway", "ppo++-halfway"]);
    assert.ok(metrics.every((m) => m.reward_rollout_only === null)); // every row has a prefix
  } finally {
    disposeAlgorithmState(state);
  }
});

Deno.test("a wrong phase is one clear error naming the phase and the field", async () => {
  assert.throws(
    () => checkPhase("ppo++"),
    /A phase chooser must return a Phase object .* got "ppo\+\+"/,
  );
  const { critic: _, ...noCritic } = halfway;
  assert.throws(
    () => checkPhase({ ...noCritic, citic: "learner" }),
    /^TypeError: Phase "ppo\+\+-halfway": critic must be "learner", "guide" or null, got undefined$/,
  );
  // critic-free needs its own advantages
  assert.throws(
    () => checkPhase({ ...halfway, critic: null }),
    /Phase "ppo\+\+-halfway": critic is null, so it needs collect stages that give advantages/,
  );
  assert.throws(
    () => checkPhase({ ...halfway, kl: "both" }),
    /Phase "ppo\+\+-halfway": kl must be "reward", "loss" or absent, got "both"/,
  );
  assert.throws(
    () => checkPhase({ ...halfway, policyMask: "suffx" }),
    /Phase "ppo\+\+-halfway": policyMask must be "all", "suffix", "prefix", "none" or a function/,
  );
  assert.throws(
    () => checkPhase({ ...halfway, beta: 2 }),
    /beta must be a number in \[0, 1\], got 2/,
  );
  assert.equal(checkPhase(halfway), halfway);
  // Through the driver: the chooser's mistake surfaces before any model runs.
  const options = toyOptions({ iterations: 1 });
  const state = await toyState(toySparseTask(), 1, options);
  try {
    await assert.rejects(
      lastValueFrom(runIterations(state, options, () => "ppo++" as unknown as Phase)),
      /A phase chooser must return a Phase object/,
    );
    await assert.rejects(
      lastValueFrom(runIterations(state, options, () => ({ ...halfway, critic: "guide" }))),
      /Phase "ppo\+\+-halfway" needs the guide critic, but state.critics.guide is not set/,
    );
  } finally {
    disposeAlgorithmState(state);
  }
});

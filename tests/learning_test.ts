/**
 * Learning works on the toy tasks with a tiny GPT: PPO on the dense task, and the
 * paper's thesis on the sparse task that only the guide knows how to reach.
 * Thresholds are fixed here, never tuned per run.
 */
import assert from "node:assert/strict";
import { lastValueFrom, toArray } from "rxjs";
import { initBackend } from "../models/backend.ts";
import type { BcMetrics } from "../pipelines/bc.ts";
import type { IterationMetrics } from "../pipelines/iteration.ts";
import { runAlgorithm } from "../pipelines/run_algorithm.ts";
import { disposeAlgorithmState } from "../pipelines/state.ts";
import { toyDenseTask, toySparseTask } from "../tasks/toy.ts";
import {
  learnerScore,
  meanScore,
  SPARSE_BUDGET,
  toyOptions,
  toyState,
  trainAndEvaluate,
} from "./_toy_setup.ts";

await initBackend();

// The critic-free algorithms (tests/beyond_paper_test.ts) at PPO's budget and thresholds.
for (const algorithm of ["ppo", "grpo", "rloo", "rebel"]) {
  Deno.test(`${algorithm.toUpperCase()} raises the mean reward clearly on the dense toy task`, async () => {
    const { metrics, score } = await trainAndEvaluate(algorithm, toyDenseTask(), 1, {
      iterations: 20,
      trajectoriesPerUpdate: 16,
    });
    assert.ok(metrics.every((m) => m.phase === algorithm));
    if (algorithm !== "ppo") assert.ok(metrics.every((m) => m.loss_value === 0), "no critic");
    // A random 16-token policy scores about 1/16.
    assert.ok(metrics[0].reward_mean < 0.25, `first iteration ${metrics[0].reward_mean}`);
    const last = metrics.slice(-3).reduce((a, m) => a + m.reward_mean, 0) / 3;
    assert.ok(last > 0.6, `last iterations ${last}`);
    assert.ok(score > 0.6, `evaluation ${score}`);
  });
}

Deno.test("BC clones the references: a tiny GPT trained with BC becomes a guide for the sparse task", async () => {
  const task = toySparseTask({ maxNewTokens: 3 });
  const options = toyOptions({
    bc: { iterations: 80, batchSize: 16, learningRate: 2e-2 },
    generation: { maxNewTokens: 3 },
  });
  options.generation.eosTokenId = null;
  const state = await toyState(task, 4, options);
  try {
    const metrics = await lastValueFrom(
      runAlgorithm("bc", state, options, { clock: () => 0 }).pipe(toArray()),
    );
    const nll = metrics.map((m) => (m as BcMetrics).loss_nll);
    assert.ok(nll[0] > 2 && nll[nll.length - 1] < 0.3, `NLL ${nll[0]} → ${nll[nll.length - 1]}`);
    const rewardMean = await learnerScore(state, task, options, 4);
    assert.ok(rewardMean > 0.7, `BC learner scores ${rewardMean}`);
  } finally {
    disposeAlgorithmState(state);
  }
});

Deno.test("the thesis: on a sparse task only the guide reaches, PPO++ and D2LOLS beat PPO at the same budget", async () => {
  // Reward 1 only for generations containing "caf": a random 16-token policy finds it
  // about once in 4096 samples; the hand-built guide writes it whenever it has room.
  // Same budget for all: 40 iterations × 64 trajectories of 3 tokens.
  const task = toySparseTask({ maxNewTokens: 3 });
  const overrides = {
    ...SPARSE_BUDGET,
    learner: { ...SPARSE_BUDGET.learner, normalizeAdvantages: true },
    ppoPlusPlus: { beta: 0.6 }, // tril's value; D2LOLS keeps the paper's I = 20 %
  };
  // D2LOLS is bimodal here: on about half the seeds its AggreVaTeD phase (the learner's prefix
  // trained on values of the guide's suffix) leaves a learner that PPO++ does not bring back to
  // "caf" within the budget (seeds 1-8 alone: 0, .03, .05, 0, 1, 0, .97, .41), so the mean is
  // taken over eight seeds
  const seeds = [1, 2, 3, 4, 5, 6, 7, 8];
  const mean = (algorithm: string) => meanScore(algorithm, task, seeds, overrides);
  const ppo = await mean("ppo");
  const ppoPlusPlus = await mean("ppo++");
  const d2lols = await mean("d2lols");
  const report = `PPO ${ppo}, PPO++ ${ppoPlusPlus}, D2LOLS ${d2lols}`;
  assert.ok(ppo < 0.1, report);
  assert.ok(ppoPlusPlus > ppo + 0.25, report);
  assert.ok(d2lols > ppo + 0.25, report);
});

Deno.test("PPO with LoRA adapters on a frozen base raises the dense toy reward", async () => {
  // A base whose tied head can express peaked distributions: at GPT-2's init (std 0.02) a
  // width-16 model's logits stay within ±0.1, and adapters alone cannot widen a frozen head.
  const options = toyOptions({ iterations: 30, trajectoriesPerUpdate: 16, learningRate: 3e-2 });
  options.generation.eosTokenId = null;
  const task = toyDenseTask();
  const state = await toyState(task, 1, options, {
    baseInitRange: 0.2,
    lora: { r: 8, alpha: 16, dropout: 0, targetModules: ["c_attn", "c_proj", "c_fc"] },
  });
  try {
    const all = await lastValueFrom(
      runAlgorithm("ppo", state, options, { clock: () => 0 }).pipe(toArray()),
    );
    const metrics = all as IterationMetrics[];
    const mean = (ms: IterationMetrics[]) => ms.reduce((a, m) => a + m.reward_mean, 0) / ms.length;
    const first = mean(metrics.slice(0, 3));
    const last = mean(metrics.slice(-3));
    const rewardMean = await learnerScore(state, task, options, 1);
    assert.ok(first < 0.15, `first iterations ${first}`);
    assert.ok(last > 0.3, `last iterations ${last}`);
    assert.ok(rewardMean > 0.3, `evaluation ${rewardMean}`);
  } finally {
    disposeAlgorithmState(state);
  }
});

/**
 * For each algorithm, on hand-built trajectories: which tokens receive policy
 * gradient and value loss (the gradient of the loss w.r.t. the log-probs and the
 * values is exactly zero on masked positions), and which critic is trained.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "../stages/_gradients.ts";
import { firstValueFrom, of } from "rxjs";
import { Rng } from "../core/prng.ts";
import { aggrevatedPhase } from "../pipelines/aggrevated.ts";
import { d2lolsChooser } from "../pipelines/d2lols.ts";
import type { Phase } from "../pipelines/iteration.ts";
import { lolsChooser } from "../pipelines/lols.ts";
import { trainOptions } from "../pipelines/options.ts";
import { PPO_PHASE } from "../pipelines/ppo.ts";
import { ppoPlusPlusPhase } from "../pipelines/ppo_pp.ts";
import { ppoLoss } from "../stages/learner_update.ts";
import { lossMasks } from "../stages/loss_masks.ts";
import type { Trajectories } from "../stages/types.ts";
import { leafCritic, leafLearner } from "./_leaf_models.ts";

await tf.setBackend("cpu");

const T = 4;
/** Switch points of the hand-built rows: no prefix, 1, 2 and 3 roll-in tokens. */
const K = [0, 1, 2, 3];

async function handBuilt(phase: Phase): Promise<Trajectories> {
  const rows = K.length;
  const grid = (f: (i: number, t: number) => number) =>
    Array.from({ length: rows }, (_, i) => Array.from({ length: T }, (_, t) => f(i, t)));
  const base = {
    iteration: 0,
    batchIndex: 0,
    recordIds: K.map((k) => `k${k}`),
    prompts: K.map(() => "p"),
    promptIds: K.map(() => [1]),
    references: K.map(() => []),
    referenceIds: K.map(() => []),
    rollInPolicy: phase.rollIn,
    rollInTokens: grid(() => 2),
    switchPoints: K,
    rollOutPolicy: phase.rollOut,
    tokens: grid(() => 3),
    generations: K.map(() => "xxxx"),
  };
  const masked = await firstValueFrom(
    of(base).pipe(lossMasks({ policy: phase.policyMask, value: phase.valueMask })),
  );
  return {
    ...masked,
    taskRewards: K.map(() => 1),
    logProbs: grid((i, t) => -1 - 0.1 * (i + t)),
    refLogProbs: grid(() => -1),
    klCoef: 0,
    klRewards: grid(() => 0),
    rewards: grid((_, t) => t === T - 1 ? 1 : 0),
    kl: K.map(() => 0),
    critic: phase.critic,
    values: grid((i, t) => 0.1 * (i - t)),
    advantages: grid((i, t) => 1 + i + t), // non-zero everywhere
    returns: grid(() => 2),
  };
}

/** The gradients of the PPO loss w.r.t. the log-probs and the values, as [B][T] arrays. */
function lossGradients(batch: Trajectories): { policy: number[][]; value: number[][] } {
  const lp = tf.variable(tf.tensor2d(batch.logProbs));
  const v = tf.variable(tf.tensor2d(batch.values));
  const options = { ...trainOptions().learner, targetCoef: 0 };
  const { grads, value } = tf.variableGrads(
    () =>
      ppoLoss(
        { learner: leafLearner(lp), critic: leafCritic(v) },
        batch,
        K.map((_, i) => i),
        options,
      ).loss,
    [lp, v],
  );
  const out = {
    policy: grads[lp.name].arraySync() as number[][],
    value: grads[v.name].arraySync() as number[][],
  };
  tf.dispose([lp, v, value, ...Object.values(grads)]);
  return out;
}

function assertGradientOn(grad: number[][], expected: (t: number, k: number) => boolean) {
  grad.forEach((row, i) =>
    row.forEach((g, t) => {
      const want = expected(t, K[i]);
      assert.equal(
        g !== 0,
        want,
        `row k=${K[i]}, t=${t}: gradient ${g}, expected ${want ? "≠ 0" : "0"}`,
      );
    })
  );
}

Deno.test("PPO: every generated token gets policy gradient and value loss; learner critic", async () => {
  const g = lossGradients(await handBuilt(PPO_PHASE));
  assertGradientOn(g.policy, () => true);
  assertGradientOn(g.value, () => true);
  assert.equal(PPO_PHASE.critic, "learner");
  assert.equal(PPO_PHASE.rollIn, null);
});

Deno.test("PPO++: policy gradient and value loss only on the learner suffix t >= k; learner critic", async () => {
  const phase = ppoPlusPlusPhase(0.2);
  const g = lossGradients(await handBuilt(phase));
  assertGradientOn(g.policy, (t, k) => t >= k);
  assertGradientOn(g.value, (t, k) => t >= k);
  assert.deepEqual([phase.rollIn, phase.rollOut, phase.critic], ["guide", "learner", "learner"]);
});

Deno.test("AggreVaTeD: policy gradient on the learner prefix t < k, value loss on the guide suffix", async () => {
  const phase = aggrevatedPhase(0.8, "learner");
  const g = lossGradients(await handBuilt(phase));
  assertGradientOn(g.policy, (t, k) => t < k); // the k = 0 row: no policy gradient at all
  assertGradientOn(g.value, (t, k) => t >= k); // ... but all of it is value data
  assert.deepEqual([phase.rollIn, phase.rollOut, phase.critic], ["learner", "guide", "learner"]);
});

Deno.test("LOLS and D2LOLS: AggreVaTeD iterations train the guide critic, PPO++ ones the learner's", async () => {
  const options = trainOptions({ iterations: 100 });
  const rng = new Rng(5).child("phase");
  for (const choose of [lolsChooser(options), d2lolsChooser(options)]) {
    const seen = new Set<string>();
    for (let i = 0; i < 100; i++) {
      const phase = choose(i, rng);
      seen.add(phase.name);
      const g = lossGradients(await handBuilt(phase));
      if (phase.name === "aggrevated") {
        assert.equal(phase.critic, "guide");
        assertGradientOn(g.policy, (t, k) => t < k);
        assertGradientOn(g.value, (t, k) => t >= k);
      } else {
        assert.equal(phase.name, "ppo++");
        assert.equal(phase.critic, "learner");
        assertGradientOn(g.policy, (t, k) => t >= k);
      }
      if (i > 25 && seen.size === 2) break; // both kinds checked
    }
    assert.equal(seen.size, 2);
  }
});

Deno.test("ppoLoss() trains only the critic the batch names", async () => {
  const batch = { ...(await handBuilt(aggrevatedPhase(0.8, "guide"))) };
  const lp = tf.variable(tf.tensor2d(batch.logProbs));
  const named = tf.variable(tf.tensor2d(batch.values));
  const other = tf.variable(tf.tensor2d(batch.values));
  const critics = { guide: leafCritic(named), learner: leafCritic(other) };
  const { grads, value } = tf.variableGrads(
    () =>
      ppoLoss(
        { learner: leafLearner(lp), critic: critics[batch.critic!] },
        batch,
        [0, 1, 2, 3],
        { ...trainOptions().learner, targetCoef: 0 },
      ).loss,
    [lp, named, other],
  );
  assert.ok(grads[named.name]);
  assert.equal(grads[other.name], undefined);
  tf.dispose([lp, named, other, value, ...Object.values(grads)]);
});

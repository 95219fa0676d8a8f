import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "./_gradients.ts";
import type { CausalLM, ContinuationOutputs, ValueModel } from "../models/types.ts";
import { type LearnerConfig, ppoLoss } from "./learner_update.ts";
import type { Trajectories } from "./types.ts";

await tf.setBackend("cpu");

const config: LearnerConfig = {
  epochs: 1,
  minibatchSize: 2,
  clipRange: 0.2,
  clipRangeValue: 0.2,
  vfCoef: 0.5,
  entCoef: 0,
  targetCoef: 0,
  normalizeAdvantages: false,
  targetKl: null,
  maxGradNorm: 1,
};

/** A learner returning fixed log-probs (for the trajectories) and reference log-probs (for the NLL). */
function fixedLearner(logProbs: number[][], refLogProbs: number[][], entropy: number[][]) {
  return {
    forwardContinuation(_p: number[][], continuations: number[][]): ContinuationOutputs {
      const isReference = continuations[0].length === refLogProbs[0].length &&
        continuations[0][0] === 9;
      return {
        logProbs: tf.tensor2d(isReference ? refLogProbs : logProbs),
        entropy: tf.tensor2d(entropy),
        hidden: tf.zeros([1, 1, 1]),
      };
    },
  } as unknown as CausalLM;
}

const critic = (values: number[][]) =>
  ({ forwardValues: () => tf.tensor2d(values) }) as unknown as ValueModel;

const batch = {
  promptIds: [[1], [1]],
  tokens: [[2, 3], [4]],
  referenceIds: [[9, 9], []],
  logProbs: [[0, 0], [0]],
  advantages: [[1, 3], [-2]],
  values: [[0, 0], [0]],
  returns: [[0, 0], [0]],
  policyMask: [[1, 1], [1]],
  valueMask: [[0, 0], [0]],
} as unknown as Trajectories;

function loss(options: Partial<LearnerConfig>, entropy = [[0, 0], [0, 0]]): number {
  return tf.tidy(() =>
    ppoLoss(
      {
        learner: fixedLearner([[0, 0], [0, 0]], [[Math.log(0.5), Math.log(0.25)]], entropy),
        critic: critic([[0, 0], [0, 0]]),
      },
      batch,
      [0, 1],
      { ...config, ...options },
    ).loss.dataSync()[0]
  );
}

Deno.test("ppoLoss() with ratio 1 is minus the mean advantage over the policy tokens", () => {
  // max(-A, -A·clip(1)) = -A; mean over the 3 real tokens (the pad of row 1 is masked).
  assert.ok(Math.abs(loss({}) - -(1 + 3 - 2) / 3) < 1e-6);
});

Deno.test("ppoLoss() whitens advantages over the policy tokens when asked", () => {
  // Whitened advantages have mean 0 over the masked tokens, so the surrogate is 0.
  assert.ok(Math.abs(loss({ normalizeAdvantages: true })) < 1e-6);
});

Deno.test("ppoLoss() adds targetCoef times the reference NLL, on rows with a reference", () => {
  const nll = -(Math.log(0.5) + Math.log(0.25)) / 2;
  assert.ok(Math.abs(loss({ targetCoef: 0.1 }) - (-2 / 3 + 0.1 * nll)) < 1e-6);
});

Deno.test("ppoLoss() subtracts entCoef times the mean entropy of the policy tokens", () => {
  const entropy = [[1, 2], [3, 100]]; // 100 sits on row 1's padding: masked
  assert.ok(Math.abs(loss({ entCoef: 0.5 }, entropy) - (-2 / 3 - 0.5 * 2)) < 1e-6);
});

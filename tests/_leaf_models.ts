/**
 * Test helper: "leaf" models whose differentiable outputs are variables themselves,
 * so the loss gradient with respect to a variable is exactly the gradient with
 * respect to the log-probs (or values) at each position.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { CausalLM, ContinuationOutputs, ValueModel } from "../models/types.ts";

/** A learner whose `forwardContinuation` returns the variable `logProbs` [B, T]. */
export function leafLearner(logProbs: tf.Variable): CausalLM {
  return {
    forwardContinuation(): ContinuationOutputs {
      const [b, t] = logProbs.shape as [number, number];
      return {
        logProbs: logProbs as unknown as tf.Tensor2D,
        entropy: tf.zeros([b, t]) as tf.Tensor2D,
        hidden: tf.zeros([b, t, 1]) as tf.Tensor3D,
      };
    },
    trainableVariables: () => [logProbs],
  } as unknown as CausalLM;
}

/** A critic whose `forwardValues` returns the variable `values` [B, T]. */
export function leafCritic(values: tf.Variable): ValueModel {
  return {
    forwardValues: () => values as unknown as tf.Tensor2D,
    values: () => Promise.resolve(values.arraySync() as number[][]),
    trainableVariables: () => [values],
    dispose: () => {},
  };
}

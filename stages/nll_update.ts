/**
 * One supervised step: AdamW on the mean negative log-likelihood of target
 * continuations given prompts (teacher forcing). BC's update, and the language-
 * model pretraining of a small policy.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import "./_gradients.ts";
import type { PolicyLM } from "../models/types.ts";
import type { AdamW } from "./adamw.ts";

/** What one NLL step did. */
export interface NllStepResult {
  /** Mean NLL per target token before the step. */
  nll: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** Target tokens trained on. */
  tokens: number;
}

/**
 * Takes one AdamW step on mean NLL of `targets` after `prompts`.
 *
 * @param learner the model (its variables must be the optimizer's)
 * @param optimizer the learner's AdamW (its learning rate is used as set)
 * @param batch prompts and target continuations, one each per row (targets non-empty)
 * @param maxGradNorm gradient-norm clip
 * @returns the loss before the step, the gradient norm and the token count
 */
export function nllStep(
  learner: PolicyLM,
  optimizer: AdamW,
  batch: { prompts: number[][]; targets: number[][] },
  maxGradNorm: number,
): NllStepResult {
  const { prompts, targets } = batch;
  if (targets.length === 0 || targets.some((t) => t.length === 0)) {
    throw new RangeError("nllStep() needs at least one row and a non-empty target in every row");
  }
  const width = Math.max(...targets.map((t) => t.length));
  const tokens = targets.reduce((n, t) => n + t.length, 0);
  const mask = targets.flatMap((t) => [...t.map(() => 1), ...new Array(width - t.length).fill(0)]);
  const { value, grads } = tf.variableGrads(() => {
    const out = learner.forwardContinuation(prompts, targets);
    const weights = tf.tensor2d(mask, [targets.length, width]);
    return tf.div(tf.neg(tf.sum(tf.mul(out.logProbs, weights))), tokens) as tf.Scalar;
  }, optimizer.variables as tf.Variable[]);
  const gradNorm = optimizer.step(optimizer.variables.map((v) => grads[v.name] ?? null), {
    maxGradNorm,
  });
  const nll = value.dataSync()[0];
  tf.dispose([value, ...Object.values(grads)]);
  return { nll, gradNorm, tokens };
}

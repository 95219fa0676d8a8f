/**
 * REBEL's loss (Gao et al., 2024, "REBEL: Reinforcement Learning via Regressing Relative
 * Rewards"): for two samples y, y' of one prompt, regress the difference of their log-ratios
 * against the policy that sampled them onto η × their reward difference.
 * @module
 */
/** @ignore tfjs documents its own types; we reference them, not re-export them. */
import * as tf from "@tensorflow/tfjs-core";
import type { LearnerConfig, LossFunction } from "./learner_update.ts";
import { maskedMean, padded } from "./ppo_loss.ts";

/**
 * The REBEL loss of a minibatch of pairs (rows 2m and 2m + 1 of `rows` share a prompt):
 * mean over pairs of ((1/η) · (log π_θ/π_old(y) − log π_θ/π_old(y')) − (R(y) − R(y')))²,
 * where a log-ratio sums over the row's policy-loss tokens and R is the row's return
 * (the task reward plus its KL rewards). Call inside a gradient closure.
 *
 * @param eta η, the step size: the log-ratio gap a unit reward gap asks for
 * @returns the loss function ({@linkcode LossFunction})
 */
export function rebelLoss(eta: number): LossFunction {
  if (!(eta > 0)) throw new RangeError(`REBEL's eta must be positive, got ${eta}`);
  return ({ learner }, batch, rows, options: LearnerConfig) => {
    if (batch.groupSize !== 2 || rows.length % 2 !== 0) {
      throw new RangeError(
        `REBEL's loss needs pairs of samples per prompt (groupSize 2, whole pairs per ` +
          `minibatch), got groupSize ${batch.groupSize} and ${rows.length} rows`,
      );
    }
    const pick = <V>(field: V[]) => rows.map((i) => field[i]);
    const prompts = pick(batch.promptIds);
    const tokens = pick(batch.tokens);
    const width = Math.max(...tokens.map((row) => row.length));
    const mask = padded(pick(batch.policyMask), width);
    const out = learner.forwardContinuation(prompts, tokens, { entropy: true });
    const logRatio = tf.sub(out.logProbs, padded(pick(batch.logProbs), width));
    const sequenceLogRatio = tf.sum(tf.mul(logRatio, mask), 1);
    const returns = rows.map((i) => batch.rewards[i].reduce((a, r) => a + r, 0));
    const even = tf.tensor1d(rows.map((_, j) => j).filter((j) => j % 2 === 0), "int32");
    const odd = tf.tensor1d(rows.map((_, j) => j).filter((j) => j % 2 === 1), "int32");
    const gap = tf.sub(tf.gather(sequenceLogRatio, even), tf.gather(sequenceLogRatio, odd));
    const rewardGap = tf.tensor1d(
      returns.filter((_, j) => j % 2 === 0).map((r, m) => r - returns[2 * m + 1]),
    );
    const loss = tf.mean(tf.square(tf.sub(tf.div(gap, eta), rewardGap))) as tf.Scalar;
    // Statistics only, as PPO reports them.
    const ratio = tf.exp(logRatio);
    const approxKl = maskedMean(tf.sub(tf.sub(ratio, 1), logRatio), mask);
    const clipFraction = maskedMean(
      tf.cast(tf.greater(tf.abs(tf.sub(ratio, 1)), options.clipRange), "float32"),
      mask,
    );
    const entropy = out.entropy ? maskedMean(out.entropy, mask) : tf.scalar(NaN);
    return {
      loss,
      policyLoss: loss,
      valueLoss: tf.scalar(0),
      nllLoss: tf.scalar(0),
      entropy,
      approxKl,
      clipFraction,
    };
  };
}

/**
 * The PPO loss terms as tensor functions (call inside `tf.tidy` or a gradient closure;
 * the caller owns the returned tensors).
 * @module
 */
/** @ignore tfjs documents its own types; we reference them, not re-export them. */
import * as tf from "@tensorflow/tfjs-core";
import "./_gradients.ts";

/**
 * Right-pads rows to one [B, T] tensor with zeros.
 *
 * @param rows per-token values of each row
 * @param width T, at least the longest row
 * @returns the tensor
 */
export function padded(rows: readonly (readonly number[])[], width: number): tf.Tensor2D {
  const flat = new Float32Array(rows.length * width);
  rows.forEach((row, i) => flat.set(row, i * width));
  return tf.tensor2d(flat, [rows.length, width]);
}

/**
 * Mean of `x` over the positions where `mask` is 1; 0 when the mask is empty.
 *
 * @param x values [B, T]
 * @param mask 0/1 [B, T]
 * @returns a scalar
 */
export function maskedMean(x: tf.Tensor, mask: tf.Tensor): tf.Scalar {
  return tf.div(tf.sum(tf.mul(x, mask)), tf.maximum(tf.sum(mask), 1));
}

/**
 * PPO's clipped surrogate, averaged over the policy-loss tokens:
 * mean(max(-A ρ, -A clip(ρ, 1 - ε, 1 + ε))) with ρ = exp(log π_θ - log π_old).
 *
 * @param logProbs log π_θ [B, T] (differentiable)
 * @param oldLogProbs log π_old [B, T]
 * @param advantages A [B, T]
 * @param mask the policy-loss mask [B, T]
 * @param clipRange ε
 * @returns the loss, the approximate KL mean((ρ - 1) - log ρ) and the clipped fraction
 */
export function clippedPolicyLoss(
  logProbs: tf.Tensor,
  oldLogProbs: tf.Tensor,
  advantages: tf.Tensor,
  mask: tf.Tensor,
  clipRange: number,
): { loss: tf.Scalar; approxKl: tf.Scalar; clipFraction: tf.Scalar } {
  const logRatio = tf.sub(logProbs, oldLogProbs);
  const ratio = tf.exp(logRatio);
  const unclipped = tf.mul(tf.neg(advantages), ratio);
  const clipped = tf.mul(tf.neg(advantages), tf.clipByValue(ratio, 1 - clipRange, 1 + clipRange));
  const loss = maskedMean(tf.maximum(unclipped, clipped), mask);
  // Statistics only: they are not part of the loss, so no gradient flows through them.
  const approxKl = maskedMean(tf.sub(tf.sub(ratio, 1), logRatio), mask);
  const clipFraction = maskedMean(
    tf.cast(tf.greater(tf.abs(tf.sub(ratio, 1)), clipRange), "float32"),
    mask,
  );
  return { loss, approxKl, clipFraction };
}

/**
 * The clipped value loss, averaged over the value-loss tokens:
 * 0.5 mean(max((V - R)², (clip(V, V_old - ε_v, V_old + ε_v) - R)²)).
 *
 * @param values V [B, T] (differentiable)
 * @param oldValues V_old [B, T]
 * @param returns R [B, T]
 * @param mask the value-loss mask [B, T]
 * @param clipRange ε_v
 * @returns a scalar
 */
export function clippedValueLoss(
  values: tf.Tensor,
  oldValues: tf.Tensor,
  returns: tf.Tensor,
  mask: tf.Tensor,
  clipRange: number,
): tf.Scalar {
  const clippedValues = tf.add(
    oldValues,
    tf.clipByValue(tf.sub(values, oldValues), -clipRange, clipRange),
  );
  const unclipped = tf.square(tf.sub(values, returns));
  const clipped = tf.square(tf.sub(clippedValues, returns));
  return tf.mul(0.5, maskedMean(tf.maximum(unclipped, clipped), mask));
}

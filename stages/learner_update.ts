/**
 * The learner: PPO epochs over shuffled minibatches of one iteration's trajectories.
 * @module
 */
/** @ignore tfjs documents its own types; we reference them, not re-export them. */
import * as tf from "@tensorflow/tfjs-core";
/** @ignore rxjs documents its own types; we reference them, not re-export them. */
import { map, type OperatorFunction } from "rxjs";
import type { Rng } from "../core/prng.ts";
import type { PolicyLM, ValueModel } from "../models/types.ts";
import type { AdamW } from "./adamw.ts";
import { clippedPolicyLoss, clippedValueLoss, maskedMean, padded } from "./ppo_loss.ts";
import type { CriticName, Trajectories } from "./types.ts";

/** Loss weights and schedule of the PPO update (defaults: spec, tril IMDB). */
export interface LearnerConfig {
  /** Passes over the trajectories. @default 5 */
  epochs: number;
  /** Trajectories per gradient step. @default 28 */
  minibatchSize: number;
  /** Policy ratio clip ε. @default 0.2 */
  clipRange: number;
  /** Value clip ε_v. @default 0.2 */
  clipRangeValue: number;
  /** Value-loss weight. @default 0.5 */
  vfCoef: number;
  /** Entropy-bonus weight. @default 0 */
  entCoef: number;
  /** Weight of the teacher-forced NLL of the reference continuation. @default 0.1 */
  targetCoef: number;
  /** Whiten advantages over each minibatch's policy-loss tokens. @default false */
  normalizeAdvantages: boolean;
  /** Stop the epochs when approx-KL > 1.5 · targetKl; null = never. @default null */
  targetKl: number | null;
  /** Gradient-norm clip, per optimizer. @default 1 */
  maxGradNorm: number;
}

/** What the learner needs: the models and their optimizers (state the pipeline owns). */
export interface LearnerModels {
  /** π_θ, updated in place. */
  learner: PolicyLM;
  /** The critics by name; the batch's `critic` picks one. */
  critics: Partial<Record<CriticName, ValueModel>>;
  /** The learner's optimizer (over `learner.trainableVariables()`). */
  optimizer: AdamW;
  /** Each critic's optimizer, over its variables that are not the learner's. */
  criticOptimizers: Partial<Record<CriticName, AdamW>>;
}

/**
 * What an update runs on besides the config: the minibatch shuffling stream and the
 * coefficient of a KL penalty in the loss (GRPO's; 0 = none, the KL is in the reward).
 */
export type UpdateOptions = LearnerConfig & { rng: Rng; klLossCoef?: number };

/**
 * A learner loss over the minibatch `rows` of a batch (call inside a gradient closure):
 * PPO's clipped surrogate ({@linkcode ppoLoss}) unless an algorithm brings its own (REBEL).
 */
export type LossFunction = (
  models: { learner: PolicyLM; critic: ValueModel | null },
  batch: Trajectories,
  rows: readonly number[],
  options: LearnerConfig & { klLossCoef?: number },
) => PpoLossTerms;

/** Means over the gradient steps of one update. */
export interface UpdateStats {
  /** Clipped surrogate policy loss. */
  policyLoss: number;
  /** Clipped value loss, before the `vfCoef` weight. */
  valueLoss: number;
  /** Teacher-forced NLL of the reference continuations (0 when `targetCoef` is 0). */
  nllLoss: number;
  /** Per-token entropy (nats) of π_θ over the policy-loss tokens. */
  entropy: number;
  /** PPO's approximate KL(π_old ‖ π_θ), mean((ρ - 1) - log ρ). */
  approxKl: number;
  /** Fraction of policy-loss tokens whose ratio ρ left [1 - ε, 1 + ε]. */
  clipFraction: number;
  /** The learner's global gradient L2 norm before clipping. */
  gradNorm: number;
  /** Gradient steps taken. */
  steps: number;
  /** True when the approx-KL early stop ended the epochs. */
  earlyStopped: boolean;
}

const STAT_KEYS = [
  "policyLoss",
  "valueLoss",
  "nllLoss",
  "entropy",
  "approxKl",
  "clipFraction",
] as const;

/**
 * Runs PPO on each batch it receives (one per iteration) and emits the batch with
 * the update's statistics. Loss = clipped policy loss over `policyMask` tokens +
 * vfCoef · clipped value loss over `valueMask` tokens (none without a critic) +
 * targetCoef · reference NLL + entCoef · (-entropy) + klLossCoef · KL(π_θ ‖ π_ref), or
 * the algorithm's own `loss`. Each optimizer clips its own gradients' norm.
 * Informally: trajectories → { batch, stats } after the update.
 *
 * @param models the learner, critics and optimizers (mutated: weights and moments)
 * @param options the loss config, the minibatch shuffling stream and the in-loss KL weight
 * @param loss the loss (default PPO's)
 * @returns the operator
 */
export function learnerUpdate(
  models: LearnerModels,
  options: UpdateOptions,
  loss: LossFunction = ppoLoss,
): OperatorFunction<Trajectories, { batch: Trajectories; stats: UpdateStats }> {
  return map((batch) => ({ batch, stats: ppoUpdate(models, batch, options, loss) }));
}

/**
 * One PPO update over a batch (the body of {@linkcode learnerUpdate}). Minibatches hold
 * whole groups when the batch has them (REBEL's pairs must stay together).
 *
 * @param models the learner, critics and optimizers
 * @param batch complete trajectories
 * @param options the loss config, the minibatch shuffling stream and the in-loss KL weight
 * @param loss the loss (default PPO's)
 * @returns the update's statistics
 */
export function ppoUpdate(
  models: LearnerModels,
  batch: Trajectories,
  options: UpdateOptions,
  loss: LossFunction = ppoLoss,
): UpdateStats {
  const critic = batch.critic === null ? null : models.critics[batch.critic] ?? null;
  const criticOptimizer = batch.critic === null ? null : models.criticOptimizers[batch.critic];
  if (batch.critic !== null && (!critic || !criticOptimizer)) {
    throw new RangeError(`The batch asks for the ${batch.critic} critic, which is not configured`);
  }
  const learnerVars = models.optimizer.variables;
  const criticVars = criticOptimizer?.variables ?? [];
  const allVars = [...learnerVars, ...criticVars];
  if (new Set(allVars.map((v) => v.name)).size !== allVars.length) {
    throw new RangeError("Learner and critic optimizers share or duplicate a variable name");
  }
  const rows = batch.tokens.length;
  const groupSize = batch.groupSize ?? 1;
  const groupsPerStep = Math.max(1, Math.round(options.minibatchSize / groupSize));
  const totals: Record<string, number> = { gradNorm: 0 };
  for (const key of STAT_KEYS) totals[key] = 0;
  let steps = 0;
  let earlyStopped = false;
  const rng = options.rng.child(`iteration-${batch.iteration}`);
  epochs: for (let epoch = 0; epoch < options.epochs; epoch++) {
    const groups = rng.child(`epoch-${epoch}`).shuffle(
      Array.from({ length: Math.ceil(rows / groupSize) }, (_, g) => g),
    );
    for (let start = 0; start < groups.length; start += groupsPerStep) {
      const mb = groups.slice(start, start + groupsPerStep).flatMap((g) =>
        Array.from({ length: groupSize }, (_, j) => g * groupSize + j).filter((i) => i < rows)
      );
      const kept: Partial<Record<(typeof STAT_KEYS)[number], tf.Scalar>> = {};
      const { value, grads } = tf.variableGrads(() => {
        const terms = loss({ learner: models.learner, critic }, batch, mb, options);
        // Keep the statistics past the gradient's scope; read and freed below.
        for (const key of STAT_KEYS) kept[key] = tf.keep(terms[key].clone());
        return terms.loss;
      }, allVars as tf.Variable[]);
      value.dispose();
      const stats: Record<string, number> = {};
      for (const key of STAT_KEYS) {
        stats[key] = kept[key]!.dataSync()[0];
        kept[key]!.dispose();
      }
      const list = (vars: readonly tf.Variable[]) => vars.map((v) => grads[v.name] ?? null);
      if (options.targetKl !== null && stats.approxKl > 1.5 * options.targetKl) {
        tf.dispose(grads);
        earlyStopped = true;
        break epochs;
      }
      const clip = { maxGradNorm: options.maxGradNorm };
      const learnerNorm = models.optimizer.step(list(learnerVars), clip);
      criticOptimizer?.step(list(criticVars), clip);
      tf.dispose(Object.values(grads));
      for (const key of STAT_KEYS) totals[key] += stats[key];
      totals.gradNorm += learnerNorm;
      steps++;
    }
  }
  const mean = (key: string) => steps === 0 ? 0 : totals[key] / steps;
  return {
    policyLoss: mean("policyLoss"),
    valueLoss: mean("valueLoss"),
    nllLoss: mean("nllLoss"),
    entropy: mean("entropy"),
    approxKl: mean("approxKl"),
    clipFraction: mean("clipFraction"),
    gradNorm: mean("gradNorm"),
    steps,
    earlyStopped,
  };
}

/** Whitens advantages over the masked tokens of a minibatch (in plain arrays). */
function whiten(advantages: number[][], mask: number[][]): number[][] {
  let n = 0, sum = 0, sumSq = 0;
  advantages.forEach((row, i) =>
    row.forEach((a, t) => {
      if (mask[i][t]) (n++, sum += a, sumSq += a * a);
    })
  );
  if (n < 2) return advantages;
  const mean = sum / n;
  const std = Math.sqrt(Math.max(0, sumSq / n - mean * mean));
  return advantages.map((row) => row.map((a) => (a - mean) / (std + 1e-8)));
}

/** The loss and its terms for one minibatch (tensors the caller owns). */
export interface PpoLossTerms {
  /** The total to minimise: policy + vfCoef · value + targetCoef · NLL − entCoef · entropy. */
  loss: tf.Scalar;
  /** Clipped surrogate, mean over the policy-loss tokens. */
  policyLoss: tf.Scalar;
  /** Clipped value loss, mean over the value-loss tokens (unweighted). */
  valueLoss: tf.Scalar;
  /** Mean NLL per reference token (0 when no row has one or `targetCoef` is 0). */
  nllLoss: tf.Scalar;
  /** Mean entropy (nats) over the policy-loss tokens. */
  entropy: tf.Scalar;
  /** Approximate KL mean((ρ - 1) - log ρ) over the policy-loss tokens; no gradient. */
  approxKl: tf.Scalar;
  /** Fraction of policy-loss tokens with |ρ - 1| > ε; no gradient. */
  clipFraction: tf.Scalar;
}

/**
 * The PPO loss of the minibatch `rows` of a batch: call inside `tf.tidy` or a gradient
 * closure. Policy terms use `policyMask`, the value term `valueMask` and the batch's
 * critic (no value term without one); a positive `klLossCoef` adds GRPO's KL penalty
 * k3 = e^(log π_ref − log π_θ) − (log π_ref − log π_θ) − 1 over the policy-loss tokens;
 * padding past a row's length is masked out.
 *
 * @param models the learner and the critic the batch names (null: critic-free)
 * @param batch complete trajectories
 * @param rows the minibatch's row indices
 * @param options the loss config and the in-loss KL weight
 * @returns the total loss and its terms
 */
export function ppoLoss(
  models: { learner: PolicyLM; critic: ValueModel | null },
  batch: Trajectories,
  rows: readonly number[],
  options: LearnerConfig & { klLossCoef?: number },
): PpoLossTerms {
  const { learner, critic } = models;
  const pick = <V>(field: V[]) => rows.map((i) => field[i]);
  const prompts = pick(batch.promptIds);
  const tokens = pick(batch.tokens);
  const width = Math.max(...tokens.map((row) => row.length));
  const policyMaskRows = pick(batch.policyMask);
  const advantageRows = options.normalizeAdvantages
    ? whiten(pick(batch.advantages), policyMaskRows)
    : pick(batch.advantages);
  const policyMask = padded(policyMaskRows, width);
  const valueMask = padded(pick(batch.valueMask), width);

  // Entropy is always asked for: it is a reported metric even when its bonus is 0.
  const out = learner.forwardContinuation(prompts, tokens, { entropy: true });
  const policy = clippedPolicyLoss(
    out.logProbs,
    padded(pick(batch.logProbs), width),
    padded(advantageRows, width),
    policyMask,
    options.clipRange,
  );
  const valueLoss = critic === null ? tf.scalar(0) : clippedValueLoss(
    critic.forwardValues(prompts, tokens),
    padded(pick(batch.values), width),
    padded(pick(batch.returns), width),
    valueMask,
    options.clipRangeValue,
  );
  let loss = tf.add(policy.loss, tf.mul(options.vfCoef, valueLoss)) as tf.Scalar;
  const klLossCoef = options.klLossCoef ?? 0;
  if (klLossCoef > 0) {
    const d = tf.sub(padded(pick(batch.refLogProbs), width), out.logProbs);
    const k3 = tf.sub(tf.sub(tf.exp(d), d), 1);
    loss = tf.add(loss, tf.mul(klLossCoef, maskedMean(k3, policyMask)));
  }

  let nllLoss = tf.scalar(0);
  const withReference = rows.filter((i) => batch.referenceIds[i].length > 0);
  if (options.targetCoef > 0 && withReference.length > 0) {
    const references = withReference.map((i) => batch.referenceIds[i]);
    const refWidth = Math.max(...references.map((row) => row.length));
    const refOut = learner.forwardContinuation(
      withReference.map((i) => batch.promptIds[i]),
      references,
    );
    const refMask = padded(references.map((r) => r.map(() => 1)), refWidth);
    nllLoss = tf.neg(maskedMean(refOut.logProbs, refMask));
    loss = tf.add(loss, tf.mul(options.targetCoef, nllLoss));
  }
  const entropy = out.entropy ? maskedMean(out.entropy, policyMask) : tf.scalar(NaN);
  if (options.entCoef > 0) {
    if (!out.entropy) {
      throw new TypeError("The learner did not return the entropy it was asked for");
    }
    loss = tf.sub(loss, tf.mul(options.entCoef, entropy));
  }
  return {
    loss,
    policyLoss: policy.loss,
    valueLoss,
    nllLoss,
    entropy,
    approxKl: policy.approxKl,
    clipFraction: policy.clipFraction,
  };
}

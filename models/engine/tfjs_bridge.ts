/**
 * The bridge between TensorFlow.js's gradient tape and the engine: a forward of
 * the engine's training graph as one tfjs custom-gradient op over a model's
 * variables, whose gradient function runs the engine's backward graph. The
 * losses (PPO, NLL, value) stay tfjs code and see ordinary tensors.
 * @module
 */
/** @ignore tfjs documents its own types; we reference them, not re-export them. */
import * as tf from "@tensorflow/tfjs-core";
import { checkTokenRows, continuationBatch } from "../padding.ts";
import type { GPT2LM } from "../gpt2.ts";
import type { ContinuationOutputs } from "../types.ts";
import type { OnnxGpt2Engine, TrainingForward } from "./engine.ts";
import { trainedVariables } from "./lora_graph.ts";
import { type TrainingHead, VALUE_HEAD } from "./heads.ts";

/** Differentiable outputs of {@linkcode engineContinuation} (tensors the caller owns). */
export interface EngineContinuation {
  /** [B, Tc, C] final hidden states at the predicting positions (not zeroed at pads). */
  hidden: tf.Tensor3D;
  /** [B, Tc] log-probs, 0 at pads (with the head). */
  logProbs?: tf.Tensor2D;
  /** [B, Tc] entropies, 0 at pads (with the head). */
  entropy?: tf.Tensor2D;
  /** [B, Tc] values, 0 at pads (with a value head). */
  values?: tf.Tensor2D;
  /** [B * Tc] 1 where a row has a continuation token. */
  valid: Float32Array;
}

/**
 * What the bridge needs of a model on an engine: its variables, its width, and
 * the engine forward over B·Tc continuation rows (row i·Tc + j predicts token
 * j of continuation i) whose backward gives every variable's gradient.
 */
export interface EngineTrainer {
  /** The model's variables by weight name (the gradients' keys). */
  readonly weights: ReadonlyMap<string, tf.Variable>;
  /** Width C of the hidden states. */
  readonly width: number;
  /** Vocabulary size (token ids are checked against it). */
  readonly vocabSize: number;
  /** The engine's forward of a batch (Tc >= 1). */
  forward(prompts: number[][], continuations: number[][], head: TrainingHead): TrainingForward;
}

/**
 * The GPT-2 trainer: prompts and continuations in one left-padded causal
 * batch; with `valueHead` (a critic's head) its variables train too; an adapted
 * model trains its LoRA adapters (the base stays frozen).
 */
export function gpt2Trainer(
  engine: OnnxGpt2Engine,
  model: GPT2LM,
  valueHead?: { weight: tf.Variable; bias: tf.Variable },
): EngineTrainer {
  const { vocabSize, nEmbd, nPositions } = model.config;
  // an adapted model's gradient step trains its adapters (graph inputs lora_A.*, lora_B.*)
  const weights = new Map(trainedVariables(model));
  if (valueHead) {
    weights.set(VALUE_HEAD.weight, valueHead.weight).set(VALUE_HEAD.bias, valueHead.bias);
  }
  return {
    weights,
    width: nEmbd,
    vocabSize,
    forward(prompts, continuations, head) {
      const batch = continuationBatch(prompts, continuations);
      if (batch.t > nPositions) {
        throw new RangeError(`Sequence of ${batch.t} tokens exceeds nPositions ${nPositions}`);
      }
      return engine.trainingForward(model, batch, head, valueHead);
    },
  };
}

/**
 * The forward of a model over prompts + continuations on its engine, as one
 * tfjs custom-gradient op over the model's weights: tfjs's tape sees the op's
 * packed output [M, C (+2)] and asks the engine's backward graph for the
 * weight gradients. Call inside a gradient closure or `tf.tidy`.
 */
export function engineContinuation(
  trainer: EngineTrainer,
  prompts: number[][],
  continuations: number[][],
  head: TrainingHead,
): EngineContinuation {
  if (prompts.length !== continuations.length) {
    throw new RangeError(`${prompts.length} prompts but ${continuations.length} continuations`);
  }
  const { vocabSize, width: c } = trainer;
  checkTokenRows(prompts, vocabSize, "prompts");
  checkTokenRows(continuations, vocabSize, "continuations", true);
  const b = prompts.length;
  const tc = Math.max(0, ...continuations.map((row) => row.length));
  const valid = new Float32Array(b * tc);
  continuations.forEach((row, i) => valid.fill(1, i * tc, i * tc + row.length));
  if (b === 0 || tc === 0) {
    const zeros = () => tf.zeros([b, tc]) as tf.Tensor2D;
    return {
      hidden: tf.zeros([b, tc, c]),
      logProbs: head === "lm" ? zeros() : undefined,
      entropy: head === "lm" ? zeros() : undefined,
      values: head === "value" ? zeros() : undefined,
      valid,
    };
  }
  const names = [...trainer.weights.keys()];
  const variables = names.map((name) => trainer.weights.get(name)!);
  // packed rows: the hidden state, then the head's columns
  const columns = head === "lm"
    ? ["logProbs", "entropy"] as const
    : head === "value"
    ? ["values"] as const
    : [] as const;
  const m = b * tc, width = c + columns.length;
  const op = tf.customGrad((..._weights) => {
    const run = trainer.forward(prompts, continuations, head);
    const packed = new Float32Array(m * width);
    for (let i = 0; i < m; i++) {
      packed.set(run.hidden.subarray(i * c, (i + 1) * c), i * width);
      columns.forEach((name, j) => (packed[i * width + c + j] = run[name]![i]));
    }
    return {
      value: tf.tensor2d(packed, [m, width]),
      gradFunc: (dy: tf.Tensor | tf.Tensor[]) => {
        const d = (dy as tf.Tensor).dataSync();
        const grads: Parameters<TrainingForward["backward"]>[0] = {
          hidden: new Float32Array(m * c),
        };
        for (const name of columns) grads[name] = new Float32Array(m);
        for (let i = 0; i < m; i++) {
          grads.hidden.set(d.subarray(i * width, i * width + c), i * c);
          columns.forEach((name, j) => (grads[name]![i] = d[i * width + c + j]));
        }
        const byName = run.backward(grads);
        return variables.map((v, i) => tf.tensor(byName.get(names[i])!, v.shape));
      },
    };
  });
  const packed = op(...variables) as tf.Tensor2D;
  const out = tf.tidy(() => {
    const mask = tf.tensor2d(valid, [b, tc]);
    const column = (j: number) =>
      tf.mul(tf.reshape(tf.slice(packed, [0, j], [m, 1]), [b, tc]), mask);
    const kept: tf.NamedTensorMap = {
      hidden: tf.reshape(tf.slice(packed, [0, 0], [m, c]), [b, tc, c]),
    };
    columns.forEach((name, j) => (kept[name] = column(c + j)));
    return kept;
  });
  packed.dispose();
  return {
    hidden: out.hidden as tf.Tensor3D,
    logProbs: out.logProbs as tf.Tensor2D | undefined,
    entropy: out.entropy as tf.Tensor2D | undefined,
    values: out.values as tf.Tensor2D | undefined,
    valid,
  };
}

/** The policy's differentiable outputs (log-probs, entropy when asked, hidden) on the engine. */
export function policyContinuation(
  trainer: EngineTrainer,
  prompts: number[][],
  continuations: number[][],
  options?: { entropy?: boolean },
): ContinuationOutputs {
  const out = engineContinuation(trainer, prompts, continuations, "lm");
  if (!options?.entropy) out.entropy!.dispose();
  return {
    logProbs: out.logProbs!,
    entropy: options?.entropy ? out.entropy : undefined,
    hidden: out.hidden,
  };
}

/**
 * The critic: a linear head on a policy's hidden states (GPT-2's, a Llama-family model's, or
 * T5's decoder states), either on its own copy of the trunk (the default) or on the
 * policy's trunk (shared). V(s_t) is read from the hidden state at the
 * position whose logit predicts continuation token t (spec "Log-prob
 * alignment"), so values line up with log-probs.
 * Head weights use trl's names (`v_head.summary.weight` [1, C], `.bias` [1]).
 * @module
 */
/** @ignore tfjs documents its own types; we reference them, not re-export them. */
import * as tf from "@tensorflow/tfjs-core";
import { InputError } from "../core/errors.ts";
import type { Rng } from "../core/prng.ts";
import type { CausalLM, Seq2SeqLM, ValueModel } from "./types.ts";
import { GPT2LM } from "./gpt2.ts";
import { T5LM } from "./t5.ts";
import { LlamaLM } from "./llama.ts";
import { loadPolicy, savePolicy } from "./t5_checkpoint.ts";
import { dense } from "./fused_ops.ts";
import { ensureBackend } from "./backend.ts";
import {
  decodeSafetensors,
  type HostTensor,
  safetensorsMetadata,
  writeSafetensors,
} from "./safetensors.ts";

/** Options of {@linkcode createValueModel}. */
export interface ValueModelOptions {
  /** Put the head on the policy's own trunk instead of a copy. @default false */
  shared?: boolean;
}

/** The file holding the value head in a saved value-model folder. */
export const VALUE_HEAD_FILE = "value_head.safetensors";

/**
 * A trunk a value head reads: a GPT-2, a Llama-family model (its hidden states come from the
 * engine alone: see OnnxAcceleratedValueModel), or a T5 (its decoder states).
 */
export type ValueTrunk = GPT2LM | T5LM | LlamaLM;

/** The width of a trunk's hidden states. */
export function trunkWidth(trunk: ValueTrunk): number {
  if (trunk instanceof T5LM) return trunk.config.dModel;
  return trunk instanceof LlamaLM ? trunk.config.hiddenSize : trunk.config.nEmbd;
}

/** V(s_t) = w · h_t + b over a GPT-2, Llama-family or T5 trunk. */
export class LinearValueModel implements ValueModel {
  /** Whether the trunk is the policy's (not owned) or a private copy (owned). */
  readonly shared: boolean;
  /** The trunk whose hidden states the head reads. */
  readonly trunk: ValueTrunk;
  /** [1, C] head weight. */
  readonly weight: tf.Variable;
  /** [1] head bias. */
  readonly bias: tf.Variable;

  /**
   * Wraps an existing trunk and head; {@linkcode createValueModel} and
   * {@linkcode loadValueModel} build them.
   *
   * @param trunk the trunk (owned unless `shared`)
   * @param weight [1, C] head weight (owned)
   * @param bias [1] head bias (owned)
   * @param shared whether the trunk belongs to the policy
   */
  constructor(trunk: ValueTrunk, weight: tf.Variable, bias: tf.Variable, shared: boolean) {
    this.trunk = trunk;
    this.weight = weight;
    this.bias = bias;
    this.shared = shared;
  }

  /** Differentiable [B, T] values, 0 past a row's continuation. */
  forwardValues(prompts: number[][], continuations: number[][]): tf.Tensor2D {
    if (this.trunk instanceof LlamaLM) {
      throw new TypeError("A Llama-family critic runs on the engine: wrap it in onEngine's engine");
    }
    const { hidden, valid } = this.trunk.continuationHidden(prompts, continuations);
    const [b, t] = hidden.shape;
    return tf.tidy(() => tf.mul(this.valuesFromHidden(hidden), tf.tensor2d(valid, [b, t])));
  }

  /**
   * The head alone on hidden states the caller already has, e.g. a shared
   * trunk's `forwardContinuation(...).hidden`, so the trunk runs once for both
   * losses. Differentiable; positions past a row's end are not zeroed.
   * @param hidden [B, T, C]
   * @returns [B, T] values
   */
  valuesFromHidden(hidden: tf.Tensor3D): tf.Tensor2D {
    const [b, t, c] = hidden.shape;
    return tf.tidy(() => {
      const h = tf.reshape(hidden, [b * t, c]) as tf.Tensor2D; // (B*T, C)
      const w = tf.transpose(this.weight) as tf.Tensor2D; // (C, 1)
      return tf.reshape(dense(h, w, this.bias as tf.Tensor1D), [b, t]) as tf.Tensor2D;
    });
  }

  /** Values as plain arrays, one per continuation token. */
  async values(prompts: number[][], continuations: number[][]): Promise<number[][]> {
    const v = tf.tidy(() => this.forwardValues(prompts, continuations));
    const flat = await v.data<"float32">();
    const width = v.shape[1];
    v.dispose();
    return continuations.map((row, i) =>
      Array.from(flat.subarray(i * width, i * width + row.length))
    );
  }

  /**
   * The head, plus the trunk when it is a private copy. A shared trunk's
   * weights are the policy's: the learner optimises them with the policy.
   */
  trainableVariables(): tf.Variable[] {
    const head = [this.weight, this.bias];
    return this.shared ? head : [...this.trunk.trainableVariables(), ...head];
  }

  /** Frees the head, and the trunk when owned. */
  dispose(): void {
    this.weight.dispose();
    this.bias.dispose();
    if (!this.shared) this.trunk.dispose();
  }
}

/** A trainable variable holding `value` (which it disposes). */
function toVariable(value: tf.Tensor): tf.Variable {
  const v = tf.variable(value, true);
  value.dispose();
  return v;
}

function asTrunk(model: unknown): ValueTrunk {
  if (!(model instanceof GPT2LM || model instanceof T5LM || model instanceof LlamaLM)) {
    throw new TypeError("The value model needs a GPT2LM, T5LM or LlamaLM trunk");
  }
  return model;
}

/**
 * A value model over `trunkSource`: a copy of it (default) or the same trunk
 * (`shared: true`), with a head initialised N(0, initializerRange), bias 0.
 * @param trunkSource the policy (copied unless shared)
 * @param rng the stream the head weights come from
 * @param options shared or separate trunk
 * @returns the value model (the caller disposes it)
 */
export function createValueModel(
  trunkSource: CausalLM | Seq2SeqLM | LlamaLM,
  rng: Rng,
  options: ValueModelOptions = {},
): LinearValueModel {
  const source = asTrunk(trunkSource);
  const shared = options.shared ?? false;
  const c = trunkWidth(source);
  // GPT-2's initializer_range; T5 initialises its projections N(0, d_model^-0.5); Llama's
  // initializer_range is 0.02 in every released config
  const std = source instanceof T5LM
    ? c ** -0.5
    : source instanceof LlamaLM
    ? 0.02
    : source.config.initializerRange;
  const stream = rng.child("v_head");
  const w = Float32Array.from({ length: c }, () => stream.normal() * std);
  const trunk: ValueTrunk = shared ? source : source.clone();
  return new LinearValueModel(
    trunk,
    toVariable(tf.tensor2d(w, [1, c])),
    toVariable(tf.zeros([1])),
    shared,
  );
}

/**
 * Saves a value model: `value_head.safetensors` (metadata `shared`), plus the
 * trunk as a GPT-2 folder when it is a private copy.
 * @param value the value model
 * @param dir the folder (created if missing)
 */
export async function saveValueModel(value: LinearValueModel, dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  if (!value.shared) await savePolicy(value.trunk, dir);
  const head = new Map<string, HostTensor>([
    ["v_head.summary.weight", {
      shape: [...value.weight.shape],
      data: await value.weight.data<"float32">(),
    }],
    ["v_head.summary.bias", { shape: [1], data: await value.bias.data<"float32">() }],
  ]);
  await writeSafetensors(`${dir}/${VALUE_HEAD_FILE}`, head, { shared: String(value.shared) });
}

/**
 * Loads a value model saved by {@linkcode saveValueModel}.
 * @param dir the folder
 * @param policy the policy, required when the head was saved on a shared trunk
 * @returns the value model (the caller disposes it)
 */
export async function loadValueModel(
  dir: string,
  policy?: CausalLM | Seq2SeqLM | LlamaLM,
): Promise<LinearValueModel> {
  await ensureBackend();
  const file = `${dir}/${VALUE_HEAD_FILE}`;
  const bytes = await Deno.readFile(file).catch(() => {
    throw new InputError(`Missing ${VALUE_HEAD_FILE}`, dir);
  });
  const shared = safetensorsMetadata(bytes, file).shared === "true";
  const tensors = decodeSafetensors(bytes, file);
  let trunk: ValueTrunk;
  if (shared) {
    if (!policy) {
      throw new InputError("The head was saved on a shared trunk: pass the policy", file);
    }
    trunk = asTrunk(policy);
  } else {
    trunk = await loadPolicy(dir);
  }
  const c = trunkWidth(trunk);
  const w = tensors.get("v_head.summary.weight");
  const b = tensors.get("v_head.summary.bias");
  if (!w || w.shape.length !== 2 || w.shape[0] !== 1 || w.shape[1] !== c) {
    if (!shared) trunk.dispose();
    throw new InputError(`Tensor "v_head.summary.weight" must have shape [1,${c}]`, file);
  }
  if (!b || b.shape.length !== 1 || b.shape[0] !== 1) {
    if (!shared) trunk.dispose();
    throw new InputError(`Tensor "v_head.summary.bias" must have shape [1]`, file);
  }
  return new LinearValueModel(
    trunk,
    toVariable(tf.tensor2d(w.data, [1, c])),
    toVariable(tf.tensor1d(b.data)),
    shared,
  );
}

/** The value model's earlier name (it read GPT-2 trunks only), kept for callers. */
export const GPT2ValueModel: typeof LinearValueModel = LinearValueModel;
/** The value model's earlier name, as a type. */
export type GPT2ValueModel = LinearValueModel;

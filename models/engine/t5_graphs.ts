/**
 * T5ForConditionalGeneration written once on the graph builder, with Hugging
 * Face's math: T5LayerNorm (RMS, no bias, no mean), attention without the
 * 1/√d_kv scale, the relative position bias of block 0 added in every layer of
 * its stack (the buckets come from the host: models/t5_config.ts), none in
 * cross-attention, relu or gated-gelu MLP, and a tied head rescaled by
 * d_model^-0.5 or an untied `lm_head`. Weights are graph inputs named as the
 * checkpoint. Rows are 2-D [N, d_model] outside attention; linear layers are
 * Gemm nodes reading the stored [out, in] weights with transB.
 *
 * Graphs: `encode` (encoder states and every decoder layer's cross-attention
 * keys and values, once per prompt), `step` (decoder prefill and KV-cache
 * steps), `score` (teacher-forced log-probs, entropies and decoder states, or
 * logits) and the training pair whose backward models/graph/autodiff.ts derives.
 * Each takes LoRA adapters as inputs when built with a spec (models/engine/lora_graph.ts);
 * the training graph then differentiates them alone.
 * @module
 */
import type { T5Config } from "../t5_config.ts";
import { t5WeightShapes } from "../t5_config.ts";
import { Graph, type Value } from "../graph/builder.ts";
import { type TrainingModels, trainingModels } from "../graph/autodiff.ts";
import { stepHead, tokenLogProbs, type TrainingHead, valueHead } from "./heads.ts";
import {
  type GraphWeights,
  graphWeights,
  isAdapterInput,
  type LoraGraphSpec,
} from "./lora_graph.ts";
import { linear, rmsNorm } from "./layers.ts";

type Weights = GraphWeights;

/** The config's RMSNorm of `name` (models/engine/layers.ts). */
function norm(g: Graph, config: T5Config, x: Value, w: Weights, name: string): Value {
  return rmsNorm(g, x, w.get(`${name}.weight`)!, config.layerNormEpsilon);
}

/** (N, h·d_kv) -> (B, h, T, d_kv) given the runtime shape (B, T, h, d_kv). */
function heads(g: Graph, t: Value, shape: Value, config: T5Config, length: string): Value {
  const { numHeads: h, dKv } = config;
  return g.transpose(g.reshape(t, shape, ["B", length, h, dKv]), [0, 2, 1, 3]); // (B, h, T, d_kv)
}

/** softmax(q·kᵀ + bias)·v with the heads merged back: (N, h·d_kv). */
function attend(g: Graph, config: T5Config, q: Value, k: Value, v: Value, bias: Value): Value {
  const scores = g.add(g.matmul(q, g.transpose(k, [0, 1, 3, 2])), bias); // (B, h, T, S)
  const y = g.matmul(g.softmax(scores, -1), v); // (B, h, T, d_kv)
  return g.reshape(g.transpose(y, [0, 2, 1, 3]), [-1, config.numHeads * config.dKv]); // (N, h·d_kv)
}

/** The position bias (1, h, T, S) from block 0's table and the host's buckets (T, S). */
function positionBias(g: Graph, w: Weights, stack: string, buckets: Value): Value {
  const table = w.get(`${stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight`)!;
  const perPair = g.gather(table, buckets); // (T, S, h)
  return g.unsqueeze(g.transpose(perPair, [2, 0, 1]), [0]); // (1, h, T, S)
}

function mlp(g: Graph, config: T5Config, x: Value, w: Weights, prefix: string): Value {
  const p = `${prefix}.DenseReluDense`;
  let hidden: Value;
  if (config.feedForwardProj === "relu") hidden = g.relu(linear(g, x, w, `${p}.wi`));
  else {
    const gate = linear(g, x, w, `${p}.wi_0`);
    const act = config.feedForwardProj === "gated-gelu" ? g.fastGelu(gate) : g.relu(gate);
    hidden = g.mul(act, linear(g, x, w, `${p}.wi_1`));
  }
  return linear(g, hidden, w, `${p}.wo`);
}

/** The encoder: final states (N = B·S, d_model). */
function encoder(
  g: Graph,
  config: T5Config,
  w: Weights,
  inputs: { ids: Value; buckets: Value; maskBias: Value },
): Value {
  const shape = g.concat([g.shape(inputs.ids), g.ints([config.numHeads, config.dKv])], 0); // (B, S, h, d_kv)
  const bias = g.add(positionBias(g, w, "encoder", inputs.buckets), inputs.maskBias); // (B, h, S, S)
  let x = g.gather(w.get("shared.weight")!, g.reshape(inputs.ids, [-1])); // (N, d)
  for (let i = 0; i < config.numLayers; i++) {
    const b = `encoder.block.${i}.layer`;
    const a = `${b}.0.SelfAttention`;
    const h = norm(g, config, x, w, `${b}.0.layer_norm`);
    const [q, k, v] = ["q", "k", "v"].map((p) =>
      heads(g, linear(g, h, w, `${a}.${p}`), shape, config, "S")
    );
    x = g.add(x, linear(g, attend(g, config, q, k, v, bias), w, `${a}.o`));
    x = g.add(x, mlp(g, config, norm(g, config, x, w, `${b}.1.layer_norm`), w, `${b}.1`));
  }
  return norm(g, config, x, w, "encoder.final_layer_norm");
}

/** One decoder layer's cross-attention keys and values (B, h, S, d_kv). */
interface CrossKV {
  k: Value;
  v: Value;
}

/** Keys and values of the encoder states for every decoder layer's cross-attention. */
function crossKeysValues(
  g: Graph,
  config: T5Config,
  w: Weights,
  states: Value,
  ids: Value,
): CrossKV[] {
  const shape = g.concat([g.shape(ids), g.ints([config.numHeads, config.dKv])], 0); // (B, S, h, d_kv)
  return Array.from({ length: config.numDecoderLayers }, (_, i) => {
    const a = `decoder.block.${i}.layer.1.EncDecAttention`;
    return {
      k: heads(g, linear(g, states, w, `${a}.k`), shape, config, "S"),
      v: heads(g, linear(g, states, w, `${a}.v`), shape, config, "S"),
    };
  });
}

/** The decoder: final states (N = B·T, d_model) and each layer's self-attention keys and values. */
function decoder(
  g: Graph,
  config: T5Config,
  w: Weights,
  inputs: { ids: Value; buckets: Value; selfBias: Value; crossBias: Value; cross: CrossKV[] },
  past?: CrossKV[],
): { states: Value; present: CrossKV[] } {
  const shape = g.concat([g.shape(inputs.ids), g.ints([config.numHeads, config.dKv])], 0); // (B, T, h, d_kv)
  const selfBias = g.add(positionBias(g, w, "decoder", inputs.buckets), inputs.selfBias); // (B, h, T, P+T)
  let x = g.gather(w.get("shared.weight")!, g.reshape(inputs.ids, [-1])); // (N, d)
  const present: CrossKV[] = [];
  for (let i = 0; i < config.numDecoderLayers; i++) {
    const b = `decoder.block.${i}.layer`;
    const a = `${b}.0.SelfAttention`;
    const h = norm(g, config, x, w, `${b}.0.layer_norm`);
    const [q, k0, v0] = ["q", "k", "v"].map((p) =>
      heads(g, linear(g, h, w, `${a}.${p}`), shape, config, "T")
    );
    const k = past ? g.concat([past[i].k, k0], 2) : k0; // (B, h, P+T, d_kv)
    const v = past ? g.concat([past[i].v, v0], 2) : v0;
    present.push({ k, v });
    x = g.add(x, linear(g, attend(g, config, q, k, v, selfBias), w, `${a}.o`));
    const c = `${b}.1.EncDecAttention`;
    const hc = norm(g, config, x, w, `${b}.1.layer_norm`);
    const qc = heads(g, linear(g, hc, w, `${c}.q`), shape, config, "T");
    const cross = inputs.cross[i];
    x = g.add(x, linear(g, attend(g, config, qc, cross.k, cross.v, inputs.crossBias), w, `${c}.o`));
    x = g.add(x, mlp(g, config, norm(g, config, x, w, `${b}.2.layer_norm`), w, `${b}.2`));
  }
  return { states: norm(g, config, x, w, "decoder.final_layer_norm"), present };
}

/** Logits (N, V) of decoder states: the tied head rescaled by d_model^-0.5, or lm_head. */
function lmHead(g: Graph, config: T5Config, states: Value, w: Weights): Value {
  if (!config.tieWordEmbeddings) return linear(g, states, w, "lm_head");
  const rescaled = g.mul(states, config.dModel ** -0.5);
  return g.gemm(rescaled, w.get("shared.weight")!, undefined, { transB: true });
}

const encoderInputs = (g: Graph) => ({
  ids: g.input("input_ids", "int64", ["B", "S"]),
  buckets: g.input("encoder_buckets", "int64", ["S", "S"]),
  maskBias: g.input("encoder_bias", "float32", ["B", 1, 1, "S"]),
});

/**
 * The `encode` graph. Inputs: input_ids [B, S], encoder_buckets [S, S] (the
 * bidirectional buckets of key − query), encoder_bias [B, 1, 1, S] (0 or −1e9
 * at padded keys), the weights. Outputs: encoder_states [B·S, d] and
 * cross_key.l / cross_value.l [B, h, S, d_kv] for every decoder layer.
 */
export function buildT5EncodeGraph(config: T5Config, lora?: LoraGraphSpec): Uint8Array {
  const g = new Graph();
  const enc = encoderInputs(g);
  const w = graphWeights(g, t5WeightShapes(config), lora);
  const states = encoder(g, config, w, enc);
  const outputs = [g.name(states, "encoder_states")];
  crossKeysValues(g, config, w, states, enc.ids).forEach((kv, l) => {
    outputs.push(g.name(kv.k, `cross_key.${l}`), g.name(kv.v, `cross_value.${l}`));
  });
  return g.model({
    name: "t5_encode",
    inputs: [enc.ids, enc.buckets, enc.maskBias, ...weightsUsed(g, w, outputs)],
    outputs,
  });
}

/** The weight inputs the outputs depend on (ONNX Runtime rejects unused declared inputs only by warning). */
function weightsUsed(g: Graph, w: Weights, outputs: Value[]): Value[] {
  const nodes = g.prune(outputs, new Set(g.inputs.keys()));
  const read = new Set(nodes.flatMap((n) => n.inputs.map((v) => v.name)));
  return [...w.values()].filter((v) => read.has(v.name));
}

/**
 * The decoder `step` graph (prefill when P = 0). Inputs: decoder_input_ids
 * [B, T], decoder_buckets [T, P+T] (causal buckets for queries at P..P+T-1),
 * decoder_bias [B, 1, T, P+T] (causal and padding mask), cross_bias [B, 1, 1, S],
 * past_key.l / past_value.l [B, h, P, d_kv], cross_key.l / cross_value.l, the
 * decoder weights. Outputs: last_logits [B, V] (with `sample`, {@linkcode stepHead}'s outputs
 * instead, and its inputs), present_key.l / present_value.l.
 */
export function buildT5StepGraph(
  config: T5Config,
  lora?: LoraGraphSpec,
  options: { sample?: "token" | "top-k" } = {},
): Uint8Array {
  const g = new Graph();
  const { numHeads: h, dKv, numDecoderLayers: layers, dModel } = config;
  const ids = g.input("decoder_input_ids", "int64", ["B", "T"]);
  const buckets = g.input("decoder_buckets", "int64", ["T", "P+T"]);
  const selfBias = g.input("decoder_bias", "float32", ["B", 1, "T", "P+T"]);
  const crossBias = g.input("cross_bias", "float32", ["B", 1, 1, "S"]);
  const kv = (kind: string, length: string) =>
    Array.from({ length: layers }, (_, l) => ({
      k: g.input(`${kind}_key.${l}`, "float32", ["B", h, length, dKv]),
      v: g.input(`${kind}_value.${l}`, "float32", ["B", h, length, dKv]),
    }));
  const past = kv("past", "P");
  const cross = kv("cross", "S");
  const w = graphWeights(g, t5WeightShapes(config), lora);
  const { states, present } = decoder(
    g,
    config,
    w,
    { ids, buckets, selfBias, crossBias, cross },
    past,
  );
  const perRow = g.reshape(states, g.concat([g.shape(ids), g.ints([dModel])], 0), [
    "B",
    "T",
    dModel,
  ]); // (B, T, d)
  const last = g.gather(perRow, g.constant([-1], [], "int64"), 1); // (B, d)
  const head = stepHead(g, lmHead(g, config, last, w), config.vocabSize, options.sample);
  const outputs = [...head.outputs];
  present.forEach((p, l) =>
    outputs.push(g.name(p.k, `present_key.${l}`), g.name(p.v, `present_value.${l}`))
  );
  const caches = [...past, ...cross].flatMap((c) => [c.k, c.v]);
  return g.model({
    name: "t5_step",
    inputs: [
      ids,
      buckets,
      selfBias,
      crossBias,
      ...caches,
      ...weightsUsed(g, w, outputs),
      ...head.inputs,
    ],
    outputs,
  });
}

/** Teacher-forced encoder + decoder over a batch: decoder states (B·T, d). */
function teacherForced(g: Graph, config: T5Config, w: Weights) {
  const enc = encoderInputs(g);
  const dec = {
    ids: g.input("decoder_input_ids", "int64", ["B", "T"]),
    buckets: g.input("decoder_buckets", "int64", ["T", "T"]),
    selfBias: g.input("decoder_bias", "float32", ["B", 1, "T", "T"]),
  };
  const states = encoder(g, config, w, enc);
  const cross = crossKeysValues(g, config, w, states, enc.ids);
  const crossBias = enc.maskBias; // the encoder's padding mask, (B, 1, 1, S)
  const out = decoder(g, config, w, { ...dec, crossBias, cross });
  return {
    inputs: [enc.ids, enc.buckets, enc.maskBias, dec.ids, dec.buckets, dec.selfBias],
    states: out.states,
  };
}

/**
 * The `score` graph: encoder inputs as `encode`, decoder_input_ids, decoder_buckets
 * [T, T], decoder_bias [B, 1, T, T]; with "logprobs" targets [B, T] → target_logprobs
 * and entropy [B·T] and decoder_states [B·T, d]; with "logits", logits [B·T, V].
 */
export function buildT5ScoreGraph(
  config: T5Config,
  options: { head: "logprobs" | "logits"; lora?: LoraGraphSpec },
): Uint8Array {
  const g = new Graph();
  const w = graphWeights(g, t5WeightShapes(config), options.lora);
  const { inputs, states } = teacherForced(g, config, w);
  const logits = lmHead(g, config, states, w);
  const outputs = [g.name(states, "decoder_states")];
  if (options.head === "logits") outputs.push(g.name(logits, "logits"));
  else {
    const targets = g.input("targets", "int64", ["B", "T"]);
    const [logp, entropy] = tokenLogProbs(g, logits, g.reshape(targets, [-1]));
    outputs.push(g.name(logp, "target_logprobs"), g.name(entropy, "entropy"));
    inputs.push(targets);
  }
  return g.model({
    name: `t5_score_${options.head}${options.lora ? "_lora" : ""}`,
    inputs: [...inputs, ...weightsUsed(g, w, outputs)],
    outputs,
  });
}

/**
 * The training graphs: the score graph's forward over every decoder position
 * (M = B·T rows), outputs the decoder states `hidden` [M, d] and, with the LM
 * head, target_logprobs and entropy [M], or with the value head values [M];
 * the backward maps grad_hidden (and grad_logprobs, grad_entropy, or
 * grad_values) to `grad.<weight>` for every weight (with adapters, for every adapter input
 * alone: the base is frozen).
 */
export function buildT5TrainingGraphs(
  config: T5Config,
  options: { head: TrainingHead; lora?: LoraGraphSpec },
): TrainingModels {
  const g = new Graph();
  const w = graphWeights(g, t5WeightShapes(config), options.lora);
  const { inputs, states } = teacherForced(g, config, w);
  const outputs = [g.name(states, "hidden")];
  const seeds = [g.input("grad_hidden", "float32", ["B*T", config.dModel])];
  const extra: Value[] = [];
  if (options.head === "lm") {
    const targets = g.input("targets", "int64", ["B", "T"]);
    const logits = lmHead(g, config, states, w);
    const [logp, entropy] = tokenLogProbs(g, logits, g.reshape(targets, [-1]));
    outputs.push(g.name(logp, "target_logprobs"), g.name(entropy, "entropy"));
    seeds.push(
      g.input("grad_logprobs", "float32", ["B*T"]),
      g.input("grad_entropy", "float32", ["B*T"]),
    );
    inputs.push(targets);
  } else if (options.head === "value") {
    const head = valueHead(g, states, config.dModel);
    outputs.push(g.name(head.values, "values"));
    seeds.push(g.input("grad_values", "float32", ["B*T"]));
    extra.push(head.weight, head.bias);
  }
  const used = weightsUsed(g, w, outputs);
  const trained = options.lora ? used.filter((v) => isAdapterInput(v.name)) : used;
  return trainingModels(g, {
    name: `t5_train_${options.head}${options.lora ? "_lora" : ""}`,
    inputs: [...inputs, ...used, ...extra],
    outputs,
    seeds,
    wrt: [...trained, ...extra],
  });
}

/**
 * The Llama family (LlamaForCausalLM, Qwen2ForCausalLM, MistralForCausalLM without sliding
 * windows) written once on the graph builder, with Hugging Face's math: RMSNorm, rotary
 * positions applied with rotate_half (the cos/sin tables come from the host:
 * models/llama_config.ts), grouped-query attention whose key/value heads each serve
 * num_attention_heads / num_key_value_heads consecutive query heads, a SwiGLU MLP, biases where
 * the config has them, a tied or untied head. Weights are graph inputs named as the checkpoint.
 * Rows are 2-D [N = B·T, d] outside attention.
 *
 * Graphs: `step` (prefill and KV-cache decoding; the cache holds the key/value heads only),
 * `score` (teacher-forced log-probs and entropies, or logits) and the training pair whose
 * backward models/graph/autodiff.ts derives.
 * @module
 */
import type { LlamaConfig } from "../llama_config.ts";
import { llamaWeightShapes } from "../llama_config.ts";
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
function norm(g: Graph, config: LlamaConfig, x: Value, w: Weights, name: string): Value {
  return rmsNorm(g, x, w.get(`${name}.weight`)!, config.rmsNormEps);
}

/** The rotary tables of a batch: cos and sin [B, T, 1, head_dim] (broadcast over heads). */
interface Rope {
  cos: Value;
  sin: Value;
}

/** x·cos + rotate_half(x)·sin on (B, T, heads, head_dim); rotate_half(x) = [−x₂, x₁]. */
function rotate(g: Graph, x: Value, rope: Rope, headDim: number): Value {
  const half = headDim / 2;
  const first = g.slice(x, [0], [half], [3]);
  const second = g.slice(x, [half], [headDim], [3]);
  const rotated = g.concat([g.neg(second), first], 3);
  return g.add(g.mul(x, rope.cos), g.mul(rotated, rope.sin));
}

/** One layer's cached keys and values [B, kv heads, P, head_dim]. */
interface KV {
  k: Value;
  v: Value;
}

/** Grouped-query self-attention; `past` extends the keys and values (decoding). */
function attention(
  g: Graph,
  config: LlamaConfig,
  x: Value,
  w: Weights,
  prefix: string,
  ctx: { rows: Value; rope: Rope; bias: Value; past?: KV },
): { y: Value; present: KV } {
  const { numAttentionHeads: nh, numKeyValueHeads: nkv, headDim: hd } = config;
  const split = (t: Value, heads: number) =>
    g.reshape(t, g.concat([ctx.rows, g.ints([heads, hd])], 0), ["B", "T", heads, hd]); // (B, T, h, hd)
  const toHeads = (t: Value) => g.transpose(t, [0, 2, 1, 3]); // (B, h, T, hd)
  const q = toHeads(rotate(g, split(linear(g, x, w, `${prefix}.q_proj`), nh), ctx.rope, hd));
  let k = toHeads(rotate(g, split(linear(g, x, w, `${prefix}.k_proj`), nkv), ctx.rope, hd));
  let v = toHeads(split(linear(g, x, w, `${prefix}.v_proj`), nkv));
  if (ctx.past) {
    k = g.concat([ctx.past.k, k], 2); // (B, kv heads, P+T, hd)
    v = g.concat([ctx.past.v, v], 2);
  }
  // each key/value head repeated for its nh / nkv query heads, consecutively (HF repeat_kv)
  const repeat = (t: Value) => {
    const groups = nh / nkv;
    if (groups === 1) return t;
    const copies = g.concat(Array(groups).fill(g.unsqueeze(t, [2])), 2); // (B, nkv, groups, S, hd)
    return g.reshape(copies, [0, nh, -1, hd], ["B", nh, "S", hd]);
  };
  const scores = g.add(
    g.mul(g.matmul(q, g.transpose(repeat(k), [0, 1, 3, 2])), 1 / Math.sqrt(hd)),
    ctx.bias,
  ); // (B, nh, T, S)
  const y = g.matmul(g.softmax(scores, -1), repeat(v)); // (B, nh, T, hd)
  const merged = g.reshape(g.transpose(y, [0, 2, 1, 3]), [-1, nh * hd]); // (N, nh·hd)
  return { y: linear(g, merged, w, `${prefix}.o_proj`), present: { k, v } };
}

/** down(silu(gate(x)) · up(x)). */
function mlp(g: Graph, x: Value, w: Weights, prefix: string): Value {
  const gate = linear(g, x, w, `${prefix}.gate_proj`);
  const silu = g.mul(gate, g.sigmoid(gate));
  return linear(g, g.mul(silu, linear(g, x, w, `${prefix}.up_proj`)), w, `${prefix}.down_proj`);
}

/** Embeddings, the decoder layers and the final norm: hidden states (N, d). */
function trunk(
  g: Graph,
  config: LlamaConfig,
  w: Weights,
  inputs: { ids: Value; rope: Rope; bias: Value },
  past?: KV[],
): { hidden: Value; present: KV[] } {
  const rows = g.shape(inputs.ids); // (B, T)
  let x = g.gather(w.get("model.embed_tokens.weight")!, g.reshape(inputs.ids, [-1]));
  const present: KV[] = [];
  for (let l = 0; l < config.numHiddenLayers; l++) {
    const p = `model.layers.${l}`;
    const a = attention(
      g,
      config,
      norm(g, config, x, w, `${p}.input_layernorm`),
      w,
      `${p}.self_attn`,
      {
        rows,
        rope: inputs.rope,
        bias: inputs.bias,
        past: past?.[l],
      },
    );
    x = g.add(x, a.y);
    x = g.add(x, mlp(g, norm(g, config, x, w, `${p}.post_attention_layernorm`), w, `${p}.mlp`));
    present.push(a.present);
  }
  return { hidden: norm(g, config, x, w, "model.norm"), present };
}

/** Logits (N, V): the tied embedding or lm_head. */
function lmHead(g: Graph, config: LlamaConfig, hidden: Value, w: Weights): Value {
  const head = config.tieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight";
  return g.gemm(hidden, w.get(head)!, undefined, { transB: true });
}

/** input_ids, the rope tables and the additive attention mask of a graph over T new tokens. */
function rowInputs(g: Graph, config: LlamaConfig, keys: string) {
  const hd = config.headDim;
  return {
    ids: g.input("input_ids", "int64", ["B", "T"]),
    rope: {
      cos: g.input("rope_cos", "float32", ["B", "T", 1, hd]),
      sin: g.input("rope_sin", "float32", ["B", "T", 1, hd]),
    },
    bias: g.input("attn_bias", "float32", ["B", 1, "T", keys]),
  };
}

/**
 * The `step` graph: prefill (P = 0) and KV-cache decoding. Inputs: input_ids [B, T], rope_cos
 * and rope_sin [B, T, 1, head_dim] (of the new tokens' positions), attn_bias [B, 1, T, P+T],
 * past_key.l / past_value.l [B, kv heads, P, head_dim], the weights. Outputs: last_logits
 * [B, V] (with `sample`, {@linkcode stepHead}'s outputs instead, and its
 * inputs), present_key.l / present_value.l.
 */
export function buildLlamaStepGraph(
  config: LlamaConfig,
  lora?: LoraGraphSpec,
  options: { sample?: "token" | "top-k" } = {},
): Uint8Array {
  const g = new Graph();
  const { numKeyValueHeads: nkv, headDim: hd, hiddenSize: d } = config;
  const inputs = rowInputs(g, config, "P+T");
  const past: KV[] = Array.from({ length: config.numHiddenLayers }, (_, l) => ({
    k: g.input(`past_key.${l}`, "float32", ["B", nkv, "P", hd]),
    v: g.input(`past_value.${l}`, "float32", ["B", nkv, "P", hd]),
  }));
  const w = graphWeights(g, llamaWeightShapes(config), lora);
  const { hidden, present } = trunk(g, config, w, inputs, past);
  const perRow = g.reshape(hidden, g.concat([g.shape(inputs.ids), g.ints([d])], 0), ["B", "T", d]);
  const last = g.gather(perRow, g.constant([-1], [], "int64"), 1); // (B, d)
  const logits = lmHead(g, config, last, w);
  const head = stepHead(g, logits, config.vocabSize, options.sample);
  const outputs = [...head.outputs];
  present.forEach((kv, l) => {
    outputs.push(g.name(kv.k, `present_key.${l}`), g.name(kv.v, `present_value.${l}`));
  });
  return g.model({
    name: "llama_step",
    inputs: [
      inputs.ids,
      inputs.rope.cos,
      inputs.rope.sin,
      inputs.bias,
      ...past.flatMap((kv) => [kv.k, kv.v]),
      ...w.values(),
      ...head.inputs,
    ],
    outputs,
  });
}

/**
 * The `score` graph over whole rows. Inputs: input_ids [B, T], rope_cos / rope_sin, attn_bias
 * [B, 1, T, T], the weights, and for log-probs `targets` [B, T]. Outputs: hidden [B·T, d]; with
 * "logprobs" target_logprobs and entropy [B·T]; with "logits" logits [B·T, V].
 */
export function buildLlamaScoreGraph(
  config: LlamaConfig,
  options: { head: "logprobs" | "logits"; lora?: LoraGraphSpec },
): Uint8Array {
  const g = new Graph();
  const inputs = rowInputs(g, config, "T");
  const w = graphWeights(g, llamaWeightShapes(config), options.lora);
  const { hidden } = trunk(g, config, w, inputs);
  const logits = lmHead(g, config, hidden, w);
  const graphInputs = [inputs.ids, inputs.rope.cos, inputs.rope.sin, inputs.bias, ...w.values()];
  const outputs = [g.name(hidden, "hidden")];
  if (options.head === "logits") outputs.push(g.name(logits, "logits"));
  else {
    const targets = g.input("targets", "int64", ["B", "T"]);
    const [logp, entropy] = tokenLogProbs(g, logits, g.reshape(targets, [-1]));
    outputs.push(g.name(logp, "target_logprobs"), g.name(entropy, "entropy"));
    graphInputs.push(targets);
  }
  return g.model({ name: `llama_score_${options.head}`, inputs: graphInputs, outputs });
}

/**
 * The training graphs: the forward over a batch laid out as `continuationBatch` lays it out,
 * the rows `predict_rows` [M] that predict the continuation, their hidden states [M, d] and,
 * with the LM head, log-probs and entropies of `targets` [M], or with the value head values [M];
 * the backward maps the output gradients to `grad.<weight>` for every weight.
 */
export function buildLlamaTrainingGraphs(
  config: LlamaConfig,
  options: { head: TrainingHead; lora?: LoraGraphSpec },
): TrainingModels {
  const g = new Graph();
  const inputs = rowInputs(g, config, "T");
  const predictRows = g.input("predict_rows", "int64", ["M"]);
  const w = graphWeights(g, llamaWeightShapes(config), options.lora);
  const { hidden } = trunk(g, config, w, inputs);
  const picked = g.name(g.gather(hidden, predictRows), "hidden"); // (M, d)
  const graphInputs = [
    inputs.ids,
    inputs.rope.cos,
    inputs.rope.sin,
    inputs.bias,
    predictRows,
    ...w.values(),
  ];
  const outputs = [picked];
  const seeds = [g.input("grad_hidden", "float32", ["M", config.hiddenSize])];
  // with adapters the base is frozen: the backward computes the adapters' gradients alone
  const wrt = options.lora
    ? [...w.entries()].filter(([name]) => isAdapterInput(name)).map(([, v]) => v)
    : [...w.values()];
  if (options.head === "lm") {
    const targets = g.input("targets", "int64", ["M"]);
    const [logp, entropy] = tokenLogProbs(g, lmHead(g, config, picked, w), targets);
    outputs.push(g.name(logp, "target_logprobs"), g.name(entropy, "entropy"));
    seeds.push(
      g.input("grad_logprobs", "float32", ["M"]),
      g.input("grad_entropy", "float32", ["M"]),
    );
    graphInputs.push(targets);
  } else if (options.head === "value") {
    const head = valueHead(g, picked, config.hiddenSize);
    outputs.push(g.name(head.values, "values"));
    seeds.push(g.input("grad_values", "float32", ["M"]));
    graphInputs.push(head.weight, head.bias);
    wrt.push(head.weight, head.bias);
  }
  return trainingModels(g, {
    name: `llama_train_${options.head}${options.lora ? "_lora" : ""}`,
    inputs: graphInputs,
    outputs,
    seeds,
    wrt,
  });
}

/**
 * GPT-2 written once on the graph builder, shaped like nanoGPT's model.py:
 * attention, MLP, block, trunk, head. Every weight is a graph INPUT (not an
 * initializer), so one session serves the learner, the reference and a guide
 * and follows the learner's weights as they change. Three graphs come from it:
 *
 * - `step`: ids [B, T], past keys/values [B, nh, P, hs] → the last position's
 *   logits [B, V] and the present keys/values (prefill when P = 0, one decode
 *   step when T = 1);
 * - `score`: ids and targets [B, T] → log π(target) and entropies [B, T] and the
 *   final hidden states [B·T, C]; without the head (critics), hidden states only;
 * - training: the rows of the continuation-predicting positions, their
 *   log-probs and entropies, and the backward derived by models/graph/autodiff.ts.
 *
 * The math is Hugging Face's GPT2LMHeadModel (and models/gpt2.ts): learned
 * positions, pre-LN blocks, gelu_new, Conv1D weights as x·W + b, a tied head.
 * Rows are 2-D [N = B·T, C] outside attention, so dense layers are Gemm nodes.
 * @module
 */
import type { GPT2Config } from "../types.ts";
import { gpt2WeightShapes } from "../gpt2.ts";
import { Graph, type Value } from "../graph/builder.ts";
import { type TrainingModels, trainingModels } from "../graph/autodiff.ts";
import { stepHead, tokenLogProbs, type TrainingHead, valueHead } from "./heads.ts";
import {
  type GraphWeights,
  graphWeights,
  isAdapterInput,
  type LoraGraphSpec,
  withLoraUpdate,
} from "./lora_graph.ts";

/** The weights of one GPT-2 as graph inputs (with LoRA adapters, if any). */
type Weights = GraphWeights;

/** x·W + b, plus s·(x·Aᵀ)·Bᵀ where the module has an adapter. */
function linear(g: Graph, x: Value, w: Weights, name: string): Value {
  return withLoraUpdate(g, x, g.gemm(x, w.get(`${name}.weight`)!, w.get(`${name}.bias`)), w, name);
}

/** One layer's cached keys and values [B, nh, P, hs]. */
interface KV {
  k: Value;
  v: Value;
}

/** Causal self-attention; `past` extends the keys and values (decoding). */
function attention(
  g: Graph,
  config: GPT2Config,
  x: Value,
  w: Weights,
  h: string,
  ctx: { headsShape: Value; bias: Value; past?: KV },
): { y: Value; present: KV } {
  const { nEmbd: c, nHead: nh } = config;
  const hs = c / nh;
  const [q, k, v] = g.split(linear(g, x, w, `${h}attn.c_attn`), [c, c, c], 1); // (N, C) each
  const heads = (t: Value) =>
    g.transpose(g.reshape(t, ctx.headsShape, ["B", "T", nh, hs]), [0, 2, 1, 3]); // (B, nh, T, hs)
  let [keys, values] = [heads(k), heads(v)];
  if (ctx.past) {
    keys = g.concat([ctx.past.k, keys], 2); // (B, nh, P+T, hs)
    values = g.concat([ctx.past.v, values], 2);
  }
  // q·kᵀ/√hs (ONNX Runtime folds the scale and the transpose into its MatMul)
  const qk = g.matmul(heads(q), g.transpose(keys, [0, 1, 3, 2])); // (B, nh, T, P+T)
  const scores = g.add(g.mul(qk, 1 / Math.sqrt(hs)), ctx.bias);
  const y = g.matmul(g.softmax(scores, -1), values); // (B, nh, T, hs)
  const merged = g.reshape(g.transpose(y, [0, 2, 1, 3]), [-1, c]); // (B, T, nh, hs) -> (N, C)
  return { y: linear(g, merged, w, `${h}attn.c_proj`), present: { k: keys, v: values } };
}

function mlp(g: Graph, x: Value, w: Weights, h: string): Value {
  return linear(g, g.fastGelu(linear(g, x, w, `${h}mlp.c_fc`)), w, `${h}mlp.c_proj`);
}

function layerNorm(g: Graph, config: GPT2Config, x: Value, p: Weights, name: string): Value {
  return g.layerNorm(
    x,
    p.get(`${name}.weight`)!,
    p.get(`${name}.bias`)!,
    config.layerNormEpsilon,
  );
}

/** Token + position embeddings, the blocks and ln_f: hidden states (N, C). */
function trunk(
  g: Graph,
  config: GPT2Config,
  w: Weights,
  inputs: { ids: Value; positions: Value; bias: Value },
  past?: KV[],
): { hidden: Value; present: KV[] } {
  const { nHead: nh, nEmbd: c } = config;
  const headsShape = g.concat([g.shape(inputs.ids), g.ints([nh, c / nh])], 0); // (B, T, nh, hs)
  const flat = (t: Value) => g.reshape(t, [-1]); // (B, T) -> (N)
  let x = g.add(
    g.gather(w.get("wte.weight")!, flat(inputs.ids)),
    g.gather(w.get("wpe.weight")!, flat(inputs.positions)),
  );
  const present: KV[] = [];
  for (let l = 0; l < config.nLayer; l++) {
    const h = `h.${l}.`;
    const a = attention(g, config, layerNorm(g, config, x, w, `${h}ln_1`), w, h, {
      headsShape,
      bias: inputs.bias,
      past: past?.[l],
    });
    x = g.add(x, a.y);
    x = g.add(x, mlp(g, layerNorm(g, config, x, w, `${h}ln_2`), w, h));
    present.push(a.present);
  }
  return { hidden: layerNorm(g, config, x, w, "ln_f"), present };
}

const rowInputs = (g: Graph, t = "T") => ({
  ids: g.input("input_ids", "int64", ["B", t]),
  positions: g.input("position_ids", "int64", ["B", t]),
});

/**
 * The `step` graph: prefill (P = 0) and KV-cache decoding. Inputs: input_ids,
 * position_ids [B, T], attn_bias [B, 1, T, P+T], past_key.l / past_value.l
 * [B, nh, P, hs], the weights and `wte_t` (the head pre-transposed, [C, V]).
 * Outputs: last_logits [B, V] (with `sample`, {@linkcode stepHead}'s
 * outputs instead, and its inputs), present_key.l / present_value.l.
 */
export function buildStepGraph(
  config: GPT2Config,
  lora?: LoraGraphSpec,
  options: { sample?: "token" | "top-k" } = {},
): Uint8Array {
  const g = new Graph();
  const { nHead: nh, nEmbd: c, nLayer, vocabSize } = config;
  const rows = rowInputs(g);
  const bias = g.input("attn_bias", "float32", ["B", 1, "T", "P+T"]);
  const past: KV[] = [];
  for (let l = 0; l < nLayer; l++) {
    past.push({
      k: g.input(`past_key.${l}`, "float32", ["B", nh, "P", c / nh]),
      v: g.input(`past_value.${l}`, "float32", ["B", nh, "P", c / nh]),
    });
  }
  const w = graphWeights(g, gpt2WeightShapes(config), lora);
  const wteT = g.input("wte_t", "float32", [c, vocabSize]);
  const { hidden, present } = trunk(g, config, w, { ...rows, bias }, past);
  const perRow = g.reshape(hidden, g.concat([g.shape(rows.ids), g.ints([c])], 0), ["B", "T", c]); // (N, C) -> (B, T, C)
  const last = g.gather(perRow, g.constant([-1], [], "int64"), 1); // (B, C)
  const logits = g.matmul(last, wteT);
  const head = stepHead(g, logits, vocabSize, options.sample);
  const outputs = [...head.outputs];
  present.forEach((kv, l) => {
    outputs.push(g.name(kv.k, `present_key.${l}`), g.name(kv.v, `present_value.${l}`));
  });
  return g.model({
    name: "gpt2_step",
    inputs: [
      rows.ids,
      rows.positions,
      bias,
      ...past.flatMap((kv) => [kv.k, kv.v]),
      ...w.values(),
      wteT,
      ...head.inputs,
    ],
    outputs,
  });
}

/** What a score graph computes past the trunk. */
export type ScoreHead = "logprobs" | "logits" | "none";

/**
 * The `score` graph. Inputs: input_ids, position_ids [B, T], attn_bias
 * [B, 1, T, T], the weights, and with a head `wte_t` (and `targets` [B, T] for
 * log-probs). Outputs: hidden [B·T, C]; with "logprobs" target_logprobs and
 * entropy [B·T]; with "logits" logits [B·T, V] (row-major B, T).
 */
export function buildScoreGraph(
  config: GPT2Config,
  options: { head: ScoreHead; lora?: LoraGraphSpec },
): Uint8Array {
  const g = new Graph();
  const rows = rowInputs(g);
  const bias = g.input("attn_bias", "float32", ["B", 1, "T", "T"]);
  const w = graphWeights(g, gpt2WeightShapes(config), options.lora);
  const { hidden } = trunk(g, config, w, { ...rows, bias });
  const inputs = [rows.ids, rows.positions, bias, ...w.values()];
  const outputs = [g.name(hidden, "hidden")];
  if (options.head !== "none") {
    const wteT = g.input("wte_t", "float32", [config.nEmbd, config.vocabSize]);
    inputs.push(wteT);
    const logits = g.matmul(hidden, wteT); // (N, V)
    if (options.head === "logits") outputs.push(g.name(logits, "logits"));
    else {
      const targets = g.input("targets", "int64", ["B", "T"]);
      const [logp, entropy] = tokenLogProbs(g, logits, g.reshape(targets, [-1]));
      outputs.push(g.name(logp, "target_logprobs"), g.name(entropy, "entropy"));
      inputs.push(targets);
    }
  }
  return g.model({ name: `gpt2_score_${options.head}`, inputs, outputs });
}

/**
 * The training graphs: the forward over a batch laid out as `continuationBatch`
 * lays it out, the rows `predict_rows` [M] (indices into the B·T positions)
 * that predict the continuation, their hidden states [M, C] and, with the LM
 * head, log-probs and entropies of `targets` [M], or with the value head
 * (`v_head.summary.weight` [1, C], `.bias` [1]) values [M]; the backward maps
 * the gradients `grad_hidden` (and `grad_logprobs`, `grad_entropy`, or
 * `grad_values`) to `grad.<weight>` for every weight.
 */
export function buildTrainingGraphs(
  config: GPT2Config,
  options: { head: TrainingHead; lora?: LoraGraphSpec },
): TrainingModels {
  const g = new Graph();
  const { nEmbd: c } = config;
  const rows = rowInputs(g);
  const bias = g.input("attn_bias", "float32", ["B", 1, "T", "T"]);
  const predictRows = g.input("predict_rows", "int64", ["M"]);
  const w = graphWeights(g, gpt2WeightShapes(config), options.lora);
  const { hidden } = trunk(g, config, w, { ...rows, bias });
  const picked = g.name(g.gather(hidden, predictRows), "hidden"); // (M, C)
  const inputs = [rows.ids, rows.positions, bias, predictRows, ...w.values()];
  const outputs = [picked];
  const seeds = [g.input("grad_hidden", "float32", ["M", c])];
  // with adapters the base is frozen: the backward computes the adapters' gradients alone
  const wrt = options.lora
    ? [...w.entries()].filter(([name]) => isAdapterInput(name)).map(([, v]) => v)
    : [...w.values()];
  if (options.head === "lm") {
    const targets = g.input("targets", "int64", ["M"]);
    const logits = g.gemm(picked, w.get("wte.weight")!, undefined, { transB: true }); // (M, V)
    const [logp, entropy] = tokenLogProbs(g, logits, targets);
    outputs.push(g.name(logp, "target_logprobs"), g.name(entropy, "entropy"));
    seeds.push(
      g.input("grad_logprobs", "float32", ["M"]),
      g.input("grad_entropy", "float32", ["M"]),
    );
    inputs.push(targets);
  } else if (options.head === "value") {
    const head = valueHead(g, picked, c);
    outputs.push(g.name(head.values, "values"));
    seeds.push(g.input("grad_values", "float32", ["M"]));
    inputs.push(head.weight, head.bias);
    wrt.push(head.weight, head.bias);
  }
  const name = `gpt2_train_${options.head}${options.lora ? "_lora" : ""}`;
  return trainingModels(g, { name, inputs, outputs, seeds, wrt });
}

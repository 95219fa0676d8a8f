/**
 * GPT-2 as ONNX graphs built by our code, with every weight a graph INPUT (not
 * an initializer), so one session serves the learner, the reference and a guide
 * and follows the learner's weights as they change, with no re-export.
 *
 * Two graphs share one trunk builder:
 * - `step`: input ids [B, T] + past keys/values [B, nh, P, hs] + an additive
 *   attention bias [B, 1, T, P+T] → logits of the last position [B, V] and the
 *   present keys/values (prefill when P = 0, one decode step when T = 1);
 * - `score`: ids [B, T] and targets [B, T] → log π(target) [B, T], entropy [B, T]
 *   and the final hidden states [B, T, C] (for value heads).
 * The math is the one of models/gpt2.ts (gelu_new, pre-LN, Conv1D x·W + b, tied head).
 * @module
 */
import type { GPT2Config } from "./types.ts";
import {
  DataType,
  encodeModel,
  type NodeSpec,
  type TensorSpec,
  type ValueSpec,
} from "./onnx_proto.ts";
import { gpt2WeightShapes } from "./gpt2.ts";

const f32 = (name: string, values: number[], dims: number[] = []): TensorSpec => ({
  name,
  dims,
  dataType: DataType.FLOAT,
  values: new Float32Array(values),
});
const i64 = (name: string, values: number[]): TensorSpec => ({
  name,
  dims: [values.length],
  dataType: DataType.INT64,
  values: BigInt64Array.from(values.map(BigInt)),
});

/** Builds the nodes of the trunk; returns the name of the final hidden state [B, T, C]. */
function trunk(config: GPT2Config, nodes: NodeSpec[], withPast: boolean): string {
  const { nLayer } = config;
  const add = (
    op: string,
    inputs: string[],
    output: string,
    attributes?: NodeSpec["attributes"],
  ) => {
    nodes.push({ op, inputs, outputs: [output], attributes });
    return output;
  };
  const eps = { float: config.layerNormEpsilon };
  let x = add("Add", [
    add("Gather", ["wte.weight", "input_ids"], "tok_emb"),
    add("Gather", ["wpe.weight", "position_ids"], "pos_emb"),
  ], "x0");
  for (let l = 0; l < nLayer; l++) {
    const h = `h.${l}.`;
    const n = (s: string) => `l${l}_${s}`;
    const ln1 = add("LayerNormalization", [x, h + "ln_1.weight", h + "ln_1.bias"], n("ln1"), {
      axis: -1,
      epsilon: eps,
    });
    const qkv = add("Add", [
      add("MatMul", [ln1, h + "attn.c_attn.weight"], n("qkv_mm")),
      h + "attn.c_attn.bias",
    ], n("qkv"));
    nodes.push({
      op: "Split",
      inputs: [qkv, "split_qkv"],
      outputs: [n("q"), n("k"), n("v")],
      attributes: { axis: 2 },
    });
    // [B, T, C] -> [B, T, nh, hs] -> [B, nh, T, hs]
    const heads = (s: string) =>
      add("Transpose", [add("Reshape", [n(s), "heads_shape"], n(s + "_bthd"))], n(s + "_bhtd"), {
        perm: [0, 2, 1, 3],
      });
    const q = heads("q");
    let k = heads("k");
    let v = heads("v");
    if (withPast) {
      k = add("Concat", [`past_key.${l}`, k], `present_key.${l}`, { axis: 2 });
      v = add("Concat", [`past_value.${l}`, v], `present_value.${l}`, { axis: 2 });
    }
    const kT = add("Transpose", [k], n("kT"), { perm: [0, 1, 3, 2] }); // [B, nh, hs, P+T]
    const scores = add("Add", [
      add("Mul", [add("MatMul", [q, kT], n("qk")), "attn_scale"], n("qk_scaled")),
      "attn_bias",
    ], n("scores")); // [B, nh, T, P+T]
    const attn = add("Softmax", [scores], n("attn"), { axis: -1 });
    const y = add("MatMul", [attn, v], n("y")); // [B, nh, T, hs]
    const merged = add("Reshape", [
      add("Transpose", [y], n("y_bthd"), { perm: [0, 2, 1, 3] }),
      "merge_shape",
    ], n("y_btc"));
    const proj = add("Add", [
      add("MatMul", [merged, h + "attn.c_proj.weight"], n("proj_mm")),
      h + "attn.c_proj.bias",
    ], n("proj"));
    x = add("Add", [x, proj], n("res1"));
    const ln2 = add("LayerNormalization", [x, h + "ln_2.weight", h + "ln_2.bias"], n("ln2"), {
      axis: -1,
      epsilon: eps,
    });
    const fc = add("Add", [
      add("MatMul", [ln2, h + "mlp.c_fc.weight"], n("fc_mm")),
      h + "mlp.c_fc.bias",
    ], n("fc"));
    // gelu_new, fused: ONNX Runtime's contrib op computes 0.5 u (1 + tanh(s (u + 0.044715 u³)))
    nodes.push({ op: "FastGelu", domain: "com.microsoft", inputs: [fc], outputs: [n("gelu")] });
    const gelu = n("gelu");
    const out = add("Add", [
      add("MatMul", [gelu, h + "mlp.c_proj.weight"], n("mlp_mm")),
      h + "mlp.c_proj.bias",
    ], n("mlp"));
    x = add("Add", [x, out], n("res2"));
  }
  return add("LayerNormalization", [x, "ln_f.weight", "ln_f.bias"], "hidden", {
    axis: -1,
    epsilon: eps,
  });
}

function constants(config: GPT2Config): TensorSpec[] {
  const { nHead: nh, nEmbd: c } = config;
  return [
    i64("split_qkv", [c, c, c]),
    i64("heads_shape", [0, 0, nh, c / nh]),
    i64("merge_shape", [0, 0, c]),
    f32("attn_scale", [1 / Math.sqrt(c / nh)]),
    i64("last_start", [-1]),
    i64("last_end", [2 ** 31 - 1]),
    i64("axis_1", [1]),
    i64("axis_2", [2]),
    i64("axis_m1", [-1]),
  ];
}

function weightInputs(config: GPT2Config): ValueSpec[] {
  const inputs = [...gpt2WeightShapes(config)].map(([name, shape]) => ({
    name,
    dataType: DataType.FLOAT,
    shape,
  }));
  // The tied head, pre-transposed on the host once per weight version: [C, V].
  inputs.push({ name: "wte_t", dataType: DataType.FLOAT, shape: [config.nEmbd, config.vocabSize] });
  return inputs;
}

/** The `step` graph (prefill and KV-cache decoding). */
export function buildStepGraph(config: GPT2Config): Uint8Array {
  const nodes: NodeSpec[] = [];
  const hidden = trunk(config, nodes, true);
  nodes.push({
    op: "Slice",
    inputs: [hidden, "last_start", "last_end", "axis_1"],
    outputs: ["last_hidden"],
  });
  nodes.push({ op: "MatMul", inputs: ["last_hidden", "wte_t"], outputs: ["last_logits_3d"] });
  nodes.push({ op: "Squeeze", inputs: ["last_logits_3d", "axis_1"], outputs: ["last_logits"] });
  const { nHead: nh, nEmbd: c, nLayer, vocabSize: v } = config;
  const hs = c / nh;
  const inputs: ValueSpec[] = [
    { name: "input_ids", dataType: DataType.INT64, shape: ["B", "T"] },
    { name: "position_ids", dataType: DataType.INT64, shape: ["B", "T"] },
    { name: "attn_bias", dataType: DataType.FLOAT, shape: ["B", 1, "T", "PT"] },
  ];
  const outputs: ValueSpec[] = [{ name: "last_logits", dataType: DataType.FLOAT, shape: ["B", v] }];
  for (let l = 0; l < nLayer; l++) {
    for (const kind of ["key", "value"]) {
      inputs.push({
        name: `past_${kind}.${l}`,
        dataType: DataType.FLOAT,
        shape: ["B", nh, "P", hs],
      });
      outputs.push({
        name: `present_${kind}.${l}`,
        dataType: DataType.FLOAT,
        shape: ["B", nh, "PT", hs],
      });
    }
  }
  return encodeModel({
    name: "gpt2_step",
    nodes,
    inputs: [...inputs, ...weightInputs(config)],
    outputs,
    initializers: constants(config),
  });
}

/** The `score` graph (log-probs of given next tokens, entropies, hidden states). */
export function buildScoreGraph(config: GPT2Config): Uint8Array {
  const nodes: NodeSpec[] = [];
  const hidden = trunk(config, nodes, false);
  const push = (
    op: string,
    inputs: string[],
    output: string,
    attributes?: NodeSpec["attributes"],
  ) => nodes.push({ op, inputs, outputs: [output], attributes });
  push("MatMul", [hidden, "wte_t"], "logits");
  push("LogSoftmax", ["logits"], "logp", { axis: -1 });
  push("Unsqueeze", ["targets", "axis_2"], "targets_3d");
  push("GatherElements", ["logp", "targets_3d"], "target_logp_3d", { axis: 2 });
  push("Squeeze", ["target_logp_3d", "axis_2"], "target_logprobs");
  push("Exp", ["logp"], "probs");
  push("Mul", ["probs", "logp"], "plogp");
  push("ReduceSum", ["plogp", "axis_m1"], "neg_entropy", { keepdims: 0 });
  push("Neg", ["neg_entropy"], "entropy");
  const { nEmbd: c } = config;
  return encodeModel({
    name: "gpt2_score",
    nodes,
    inputs: [
      { name: "input_ids", dataType: DataType.INT64, shape: ["B", "T"] },
      { name: "position_ids", dataType: DataType.INT64, shape: ["B", "T"] },
      { name: "attn_bias", dataType: DataType.FLOAT, shape: ["B", 1, "T", "T"] },
      { name: "targets", dataType: DataType.INT64, shape: ["B", "T"] },
      ...weightInputs(config),
    ],
    outputs: [
      { name: "target_logprobs", dataType: DataType.FLOAT, shape: ["B", "T"] },
      { name: "entropy", dataType: DataType.FLOAT, shape: ["B", "T"] },
      { name: "hidden", dataType: DataType.FLOAT, shape: ["B", "T", c] },
    ],
    initializers: constants(config),
  });
}

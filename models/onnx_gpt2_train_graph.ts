/**
 * GPT-2's gradient as two ONNX graphs built by our code, so the training step
 * runs on ONNX Runtime's threaded kernels instead of tfjs-wasm's scalar ones:
 *
 * - `forward`: the trunk on a [B, T] batch laid out as `continuationBatch` lays
 *   it out (left-padded prompt, right-padded continuation), the final hidden
 *   states of the Tc positions that predict the continuation, and (with the
 *   head) their log-probs and entropies; it also returns every activation the
 *   backward pass reads, by name.
 * - `backward`: those activations, the weights and the gradients of the
 *   outputs → the gradient of every weight but the embeddings, plus the
 *   gradient of the embedding sum x0 [N, C] (the host scatters it into wte and
 *   wpe: a gather's gradient is a scatter-add, cheaper there than as a graph).
 *
 * Everything is 2-D [N = B·T, C] except attention, so dense layers are Gemm
 * nodes whose transA/transB flags give the weight and input gradients without
 * transposes. The math is the one of models/gpt2.ts (pre-LN, gelu_new, Conv1D
 * x·W + b, tied head); the backward rules are the textbook ones, checked
 * against tfjs autograd in models/onnx_train_test.ts.
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

type Attributes = NodeSpec["attributes"];

/** Appends nodes with generated output names; `op` returns the single output's name. */
class GraphBuilder {
  readonly nodes: NodeSpec[] = [];
  #count = 0;

  op(op: string, inputs: string[], attributes?: Attributes, name?: string): string {
    const output = name ?? `${op.toLowerCase()}_${this.#count++}`;
    this.nodes.push({ op, inputs, outputs: [output], attributes });
    return output;
  }

  /** ONNX Runtime's fused tanh GELU (contrib op com.microsoft.FastGelu), gelu_new exactly. */
  fastGelu(x: string, name?: string): string {
    const output = name ?? `fastgelu_${this.#count++}`;
    this.nodes.push({ op: "FastGelu", domain: "com.microsoft", inputs: [x], outputs: [output] });
    return output;
  }

  multi(op: string, inputs: string[], outputs: string[], attributes?: Attributes): string[] {
    this.nodes.push({ op, inputs, outputs, attributes });
    return outputs;
  }

  // Dense layer x·W + b, and its two gradients (Gemm's flags do the transposes).
  dense(x: string, w: string, b: string, name?: string): string {
    return this.op("Gemm", [x, w, b], undefined, name);
  }
  matTA(a: string, b: string): string {
    return this.op("Gemm", [a, b], { transA: 1 });
  }
  matTB(a: string, b: string): string {
    return this.op("Gemm", [a, b], { transB: 1 });
  }
  add(a: string, b: string, name?: string): string {
    return this.op("Add", [a, b], undefined, name);
  }
  sub(a: string, b: string): string {
    return this.op("Sub", [a, b]);
  }
  mul(a: string, b: string, name?: string): string {
    return this.op("Mul", [a, b], undefined, name);
  }
  sumRows(x: string, name?: string): string {
    return this.op("ReduceSum", [x, "axis_0"], { keepdims: 0 }, name);
  }
  transpose(x: string, perm: number[]): string {
    return this.op("Transpose", [x], { perm });
  }
}

const f32 = (name: string, values: number[]): TensorSpec => ({
  name,
  dims: [],
  dataType: DataType.FLOAT,
  values: new Float32Array(values),
});
const i64 = (name: string, values: number[], scalar = false): TensorSpec => ({
  name,
  dims: scalar ? [] : [values.length],
  dataType: DataType.INT64,
  values: BigInt64Array.from(values.map(BigInt)),
});

function constants(config: GPT2Config): TensorSpec[] {
  const { nEmbd: c, nHead: nh } = config;
  return [
    i64("split_qkv", [c, c, c]),
    i64("rows_c", [-1, c]),
    i64("axis_0", [0]),
    i64("axis_1", [1]),
    i64("axis_m1", [-1]),
    i64("vocab_depth", [config.vocabSize], true),
    f32("attn_scale", [1 / Math.sqrt(c / nh)]),
    f32("gelu_s", [Math.sqrt(2 / Math.PI)]),
    f32("gelu_sc", [Math.sqrt(2 / Math.PI) * 0.044715]),
    f32("gelu_3sc", [3 * Math.sqrt(2 / Math.PI) * 0.044715]),
    f32("half", [0.5]),
    f32("one", [1]),
    {
      name: "onehot_values",
      dims: [2],
      dataType: DataType.FLOAT,
      values: new Float32Array([0, 1]),
    },
  ];
}

/** Names of the activations one layer saves for the backward pass. */
function saved(l: number) {
  const n = (s: string) => `l${l}.${s}`;
  return {
    x: n("x"), // the residual stream entering the layer [N, C]
    mean1: n("mean1"),
    rstd1: n("rstd1"), // ln_1 statistics [N, 1]
    q: n("q"),
    k: n("k"),
    v: n("v"), // [B, nh, T, hs]
    probs: n("probs"), // attention probabilities [B, nh, T, T]
    merged: n("merged"), // heads merged, input of attn.c_proj [N, C]
    x1: n("x1"), // after the attention residual [N, C]
    mean2: n("mean2"),
    rstd2: n("rstd2"),
    fc: n("fc"), // mlp.c_fc output before gelu [N, 4C]
    act: n("act"), // gelu(fc) [N, 4C]
  };
}

/**
 * The activations (name, dtype-free shape) the forward graph returns for the
 * backward graph.
 * @param config the model's config
 * @param head whether the graphs include the LM head
 * @returns names in a fixed order
 */
export function savedActivationNames(config: GPT2Config, head: boolean): string[] {
  const names: string[] = [];
  for (let l = 0; l < config.nLayer; l++) names.push(...Object.values(saved(l)));
  names.push("xf", "meanf", "rstdf", "hidden");
  if (head) names.push("log_softmax", "entropy");
  return names;
}

function weightInputs(
  config: GPT2Config,
  skip: (name: string) => boolean,
): (ValueSpec & { shape: number[] })[] {
  return [...gpt2WeightShapes(config)].filter(([name]) => !skip(name)).map(([name, shape]) => ({
    name,
    dataType: DataType.FLOAT,
    shape,
  }));
}

const float = (name: string, shape: (number | string)[]): ValueSpec => ({
  name,
  dataType: DataType.FLOAT,
  shape,
});
const int64 = (name: string, shape: (number | string)[]): ValueSpec => ({
  name,
  dataType: DataType.INT64,
  shape,
});

/**
 * gelu_new'(u) = 0.5 (1 + t) + 0.5 u (1 - t²) (s + 3 s c u²), t = tanh(s (u + c u³)),
 * written with few full-size elementwise nodes (each is a pass over [N, 4C]).
 */
function geluSlope(g: GraphBuilder, u: string): string {
  const u2 = g.mul(u, u);
  const t = g.op("Tanh", [g.mul(u, g.add(g.mul(u2, "gelu_sc"), "gelu_s"))]);
  const dInner = g.add(g.mul(u2, "gelu_3sc"), "gelu_s"); // s + 3 s c u²
  const uSech2 = g.sub(u, g.mul(g.mul(u, t), t)); // u (1 - t²)
  return g.mul(g.add(g.add(t, "one"), g.mul(uSech2, dInner)), "half");
}

/**
 * The training forward graph.
 * Inputs: input_ids, position_ids [N]; attn_bias [B, 1, T, T]; heads_shape [4] =
 * (B, T, nh, hs); slice_start, slice_end [1] (the Tc predicting positions);
 * with the head, targets [M = B·Tc]; the weights. Outputs: hidden [M, C], with
 * the head target_logprobs and entropy [M]; then {@linkcode savedActivationNames}.
 * @param config the model's config (gelu_new activation)
 * @param head whether to include the tied LM head
 * @returns the serialised model
 */
export function buildTrainForwardGraph(config: GPT2Config, head: boolean): Uint8Array {
  const g = new GraphBuilder();
  const eps = { float: config.layerNormEpsilon };
  let x = g.add(
    g.op("Gather", ["wte.weight", "input_ids"]),
    g.op("Gather", ["wpe.weight", "position_ids"]),
    saved(0).x,
  );
  for (let l = 0; l < config.nLayer; l++) {
    const s = saved(l);
    const h = `h.${l}.`;
    const [ln1] = g.multi("LayerNormalization", [x, h + "ln_1.weight", h + "ln_1.bias"], [
      `l${l}.ln1`,
      s.mean1,
      s.rstd1,
    ], { axis: -1, epsilon: eps });
    const qkv = g.dense(ln1, h + "attn.c_attn.weight", h + "attn.c_attn.bias");
    const parts = g.multi("Split", [qkv, "split_qkv"], [`l${l}.q2`, `l${l}.k2`, `l${l}.v2`], {
      axis: 1,
    });
    const [q, k, v] = parts.map((p, i) =>
      g.op(
        "Transpose",
        [g.op("Reshape", [p, "heads_shape"])],
        { perm: [0, 2, 1, 3] },
        [
          s.q,
          s.k,
          s.v,
        ][i],
      )
    );
    const scores = g.add(
      g.mul(g.op("MatMul", [q, g.transpose(k, [0, 1, 3, 2])]), "attn_scale"),
      "attn_bias",
    );
    const probs = g.op("Softmax", [scores], { axis: -1 }, s.probs);
    const y = g.op("MatMul", [probs, v]);
    const merged = g.op("Reshape", [g.transpose(y, [0, 2, 1, 3]), "rows_c"], undefined, s.merged);
    const x1 = g.add(
      x,
      g.dense(merged, h + "attn.c_proj.weight", h + "attn.c_proj.bias"),
      s.x1,
    );
    const [ln2] = g.multi("LayerNormalization", [x1, h + "ln_2.weight", h + "ln_2.bias"], [
      `l${l}.ln2`,
      s.mean2,
      s.rstd2,
    ], { axis: -1, epsilon: eps });
    const fc = g.dense(ln2, h + "mlp.c_fc.weight", h + "mlp.c_fc.bias", s.fc);
    const mlp = g.dense(g.fastGelu(fc, s.act), h + "mlp.c_proj.weight", h + "mlp.c_proj.bias");
    x = g.add(x1, mlp, l + 1 < config.nLayer ? saved(l + 1).x : "xf");
  }
  const [final] = g.multi("LayerNormalization", [x, "ln_f.weight", "ln_f.bias"], [
    "final",
    "meanf",
    "rstdf",
  ], { axis: -1, epsilon: eps });
  // rows of the continuation-predicting positions: [N, C] -> [B, T, C] -> [B, Tc, C] -> [M, C]
  const btc = g.op("Reshape", [final, "btc_shape"]);
  const sliced = g.op("Slice", [btc, "slice_start", "slice_end", "axis_1"]);
  g.op("Reshape", [sliced, "rows_c"], undefined, "hidden");
  const outputs: ValueSpec[] = [float("hidden", ["M", config.nEmbd])];
  if (head) {
    const logits = g.matTB("hidden", "wte.weight"); // [M, V]
    const logSoftmax = g.op("LogSoftmax", [logits], { axis: -1 }, "log_softmax");
    const picked = g.op("GatherElements", [
      logSoftmax,
      g.op("Unsqueeze", ["targets", "axis_1"]),
    ], { axis: 1 });
    g.op("Squeeze", [picked, "axis_1"], undefined, "target_logprobs");
    const plogp = g.mul(g.op("Exp", [logSoftmax]), logSoftmax);
    g.op("Neg", [g.op("ReduceSum", [plogp, "axis_1"], { keepdims: 0 })], undefined, "entropy");
    outputs.push(float("target_logprobs", ["M"]), float("entropy", ["M"]));
  }
  for (const name of savedActivationNames(config, head)) {
    // unranked: the runtime infers their shapes
    if (!outputs.some((o) => o.name === name)) outputs.push({ name, dataType: DataType.FLOAT });
  }
  return encodeModel({
    name: head ? "gpt2_train_forward_head" : "gpt2_train_forward",
    nodes: g.nodes,
    inputs: [
      int64("input_ids", ["N"]),
      int64("position_ids", ["N"]),
      float("attn_bias", ["B", 1, "T", "T"]),
      int64("heads_shape", [4]),
      int64("btc_shape", [3]),
      int64("slice_start", [1]),
      int64("slice_end", [1]),
      ...(head ? [int64("targets", ["M"])] : []),
      ...weightInputs(config, () => false),
    ],
    outputs,
    initializers: constants(config),
  });
}

/** LayerNorm's backward: returns dx and adds the gain and bias gradients as outputs. */
function layerNormBackward(
  g: GraphBuilder,
  dy: string,
  xhat: string,
  rstd: string,
  prefix: string,
): string {
  g.sumRows(dy, `grad.${prefix}.bias`);
  g.sumRows(g.mul(dy, xhat), `grad.${prefix}.weight`);
  const dxhat = g.mul(dy, `${prefix}.weight`);
  const meanDxhat = g.op("ReduceMean", [dxhat], { axes: [1], keepdims: 1 });
  const meanDxhatXhat = g.op("ReduceMean", [g.mul(dxhat, xhat)], { axes: [1], keepdims: 1 });
  return g.mul(g.sub(g.sub(dxhat, meanDxhat), g.mul(xhat, meanDxhatXhat)), rstd);
}

/** xhat = (x - mean) · rstd, recomputed from the saved statistics. */
function normalized(g: GraphBuilder, x: string, mean: string, rstd: string): string {
  return g.mul(g.sub(x, mean), rstd);
}

/**
 * The training backward graph.
 * Inputs: the forward's saved activations; heads_shape, btc_shape (B, Tc, C) as
 * `grad_btc_shape`, and unslice_pads [6]; grad_hidden [M, C]; with the head,
 * targets, grad_logprobs and grad_entropy [M]; the weights (embeddings only for
 * the head). Outputs: `grad.<weight>` for every weight but wte and wpe,
 * `grad.x0` [N, C], and with the head `grad.wte_head` [V, C].
 * @param config the model's config
 * @param head whether the forward included the LM head
 * @returns the serialised model
 */
export function buildTrainBackwardGraph(config: GPT2Config, head: boolean): Uint8Array {
  const g = new GraphBuilder();
  let dHidden = "grad_hidden";
  if (head) {
    // d/dlogits of logp[target] is onehot - p; of the entropy H it is -p (log p + H).
    const probs = g.op("Exp", ["log_softmax"]);
    const dLogp = g.op("Unsqueeze", ["grad_logprobs", "axis_1"]);
    const dEntropy = g.op("Unsqueeze", ["grad_entropy", "axis_1"]);
    const entropy = g.op("Unsqueeze", ["entropy", "axis_1"]);
    const coefficient = g.add(dLogp, g.mul(dEntropy, g.add("log_softmax", entropy)));
    const onehot = g.op("OneHot", ["targets", "vocab_depth", "onehot_values"], { axis: -1 });
    const dLogits = g.sub(g.mul(onehot, dLogp), g.mul(probs, coefficient));
    g.op("Gemm", [dLogits, "hidden"], { transA: 1 }, "grad.wte_head");
    dHidden = g.add(g.op("MatMul", [dLogits, "wte.weight"]), "grad_hidden");
  }
  // back to all N rows: zeros at the positions that predict nothing
  const padded = g.op("Pad", [g.op("Reshape", [dHidden, "grad_btc_shape"]), "unslice_pads"]);
  let dx = layerNormBackward(
    g,
    g.op("Reshape", [padded, "rows_c"]),
    normalized(g, "xf", "meanf", "rstdf"),
    "rstdf",
    "ln_f",
  );
  for (let l = config.nLayer - 1; l >= 0; l--) {
    const s = saved(l);
    const h = `h.${l}.`;
    // MLP: x2 = x1 + gelu(ln2(x1)·Wfc + bfc)·Wmp + bmp
    const xhat2 = normalized(g, s.x1, s.mean2, s.rstd2);
    const ln2 = g.add(g.mul(xhat2, h + "ln_2.weight"), h + "ln_2.bias");
    g.op("Gemm", [s.act, dx], { transA: 1 }, `grad.${h}mlp.c_proj.weight`);
    g.sumRows(dx, `grad.${h}mlp.c_proj.bias`);
    const dAct = g.matTB(dx, h + "mlp.c_proj.weight");
    const dFc = g.mul(dAct, geluSlope(g, s.fc));
    g.op("Gemm", [ln2, dFc], { transA: 1 }, `grad.${h}mlp.c_fc.weight`);
    g.sumRows(dFc, `grad.${h}mlp.c_fc.bias`);
    const dLn2 = g.matTB(dFc, h + "mlp.c_fc.weight");
    const dx1 = g.add(dx, layerNormBackward(g, dLn2, xhat2, s.rstd2, h + "ln_2"));
    // attention: x1 = x + softmax(q·kᵀ·scale + bias)·v merged, ·Wap + bap
    g.op("Gemm", [s.merged, dx1], { transA: 1 }, `grad.${h}attn.c_proj.weight`);
    g.sumRows(dx1, `grad.${h}attn.c_proj.bias`);
    const dMerged = g.matTB(dx1, h + "attn.c_proj.weight");
    const dY = g.transpose(g.op("Reshape", [dMerged, "heads_shape"]), [0, 2, 1, 3]);
    const dProbs = g.op("MatMul", [dY, g.transpose(s.v, [0, 1, 3, 2])]);
    const dV = g.op("MatMul", [g.transpose(s.probs, [0, 1, 3, 2]), dY]);
    const rowDot = g.op("ReduceSum", [g.mul(dProbs, s.probs), "axis_m1"], { keepdims: 1 });
    const dScores = g.mul(g.mul(s.probs, g.sub(dProbs, rowDot)), "attn_scale");
    const dQ = g.op("MatMul", [dScores, s.k]);
    const dK = g.op("MatMul", [g.transpose(dScores, [0, 1, 3, 2]), s.q]);
    const rows = (t: string) => g.op("Reshape", [g.transpose(t, [0, 2, 1, 3]), "rows_c"]);
    const dQkv = g.op("Concat", [rows(dQ), rows(dK), rows(dV)], { axis: 1 });
    const xhat1 = normalized(g, s.x, s.mean1, s.rstd1);
    const ln1 = g.add(g.mul(xhat1, h + "ln_1.weight"), h + "ln_1.bias");
    g.op("Gemm", [ln1, dQkv], { transA: 1 }, `grad.${h}attn.c_attn.weight`);
    g.sumRows(dQkv, `grad.${h}attn.c_attn.bias`);
    const dLn1 = g.matTB(dQkv, h + "attn.c_attn.weight");
    dx = g.add(dx1, layerNormBackward(g, dLn1, xhat1, s.rstd1, h + "ln_1"));
  }
  g.op("Identity", [dx], undefined, "grad.x0");

  const weights = weightInputs(
    config,
    (name) => name === "wpe.weight" || (!head && name === "wte.weight"),
  );
  const outputs: ValueSpec[] = weightInputs(
    config,
    (name) => name === "wte.weight" || name === "wpe.weight",
  ).map((w) => float(`grad.${w.name}`, w.shape));
  outputs.push(float("grad.x0", ["N", config.nEmbd]));
  if (head) outputs.push(float("grad.wte_head", [config.vocabSize, config.nEmbd]));
  const savedInputs = savedActivationNames(config, head).map((name) => ({
    name,
    dataType: DataType.FLOAT,
  }));
  return encodeModel({
    name: head ? "gpt2_train_backward_head" : "gpt2_train_backward",
    nodes: g.nodes,
    inputs: [
      ...savedInputs,
      int64("heads_shape", [4]),
      int64("grad_btc_shape", [3]),
      int64("unslice_pads", [6]),
      float("grad_hidden", ["M", config.nEmbd]),
      ...(head
        ? [int64("targets", ["M"]), float("grad_logprobs", ["M"]), float("grad_entropy", ["M"])]
        : []),
      ...weights,
    ],
    outputs,
    initializers: constants(config),
  });
}

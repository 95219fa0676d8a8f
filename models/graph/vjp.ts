/**
 * Vector-Jacobian rules, one per ONNX operator, written as builder code: given
 * an op's inputs, outputs and the gradients of its outputs, each emits the
 * nodes of the inputs' gradients. models/graph/autodiff.ts chains them.
 *
 * Broadcasting is undone statically ({@linkcode sumToShape}); rules read the
 * forward values they need (a rule that reads an output, such as Softmax's,
 * lets the backward reuse it instead of recomputing).
 * @module
 */
import {
  type Dim,
  fmt,
  type Graph,
  type RuleContext,
  sameDim,
  type Value,
  type VjpRule,
} from "./builder.ts";

const normAxis = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);

function rankOf(v: Value, op: string): number {
  if (!v.shape) throw new Error(`${op} gradient: the rank of "${v.name}" is unknown`);
  return v.shape.length;
}

/**
 * `dy` summed over the axes along which `target` was broadcast to `dy`'s
 * shape, so it has `target`'s shape. Needs both shapes' dims where they differ.
 */
export function sumToShape(g: Graph, dy: Value, target: Value): Value {
  const [s, t] = [dy.shape, target.shape];
  if (!s || !t) {
    throw new Error(`Cannot undo broadcasting of "${target.name}": a rank is unknown`);
  }
  const lead = s.length - t.length;
  const axes: number[] = [];
  for (let i = 0; i < lead; i++) axes.push(i);
  t.forEach((d, i) => {
    const e = s[i + lead];
    if (sameDim(d, e)) return;
    if (d === 1) axes.push(i + lead);
    else if (d === null || e === null) {
      throw new Error(
        `Cannot undo broadcasting of "${target.name}" ${fmt(t)} from ${fmt(s)}: dim ${i} unknown`,
      );
    }
  });
  if (axes.length === 0) return dy;
  if (axes.length === lead) return g.reduceSum(dy, axes, false);
  const summed = g.reduceSum(dy, axes, true);
  return lead > 0 ? g.squeeze(summed, axes.slice(0, lead)) : summed;
}

/** Swaps the last two axes. */
function transposeLast(g: Graph, x: Value, op: string): Value {
  const r = rankOf(x, op);
  const perm = [...Array(r).keys()];
  [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
  return g.transpose(x, perm);
}

/** The element count over `axes` of `x`, as a scalar of `x`'s dtype (static when known). */
function countOver(g: Graph, x: Value, axes: readonly number[]): Value {
  const r = rankOf(x, "count");
  const dims = axes.map((a) => x.shape![normAxis(a, r)]);
  if (dims.every((d) => typeof d === "number")) {
    return g.scalar((dims as number[]).reduce((p, d) => p * d, 1), x);
  }
  const sizes = g.gather(g.shape(x), g.ints(axes.map((a) => normAxis(a, r))));
  return g.cast(g.reduceProd(sizes, [0], false), x.dtype);
}

/** `dy` of a reduction over `axes` broadcast back to the input's shape. */
function unreduce(g: Graph, dy: Value, x: Value, axes: readonly number[], keepdims: boolean) {
  const kept = keepdims ? dy : g.unsqueeze(dy, axes.map((a) => normAxis(a, rankOf(x, "reduce"))));
  return g.expand(kept, g.shape(x), x.shape ?? undefined);
}

/** gelu_new'(u) = 0.5 (1 + t) + 0.5 u (1 - t²) (s + 3 s c u²), t = tanh(s (u + c u³)). */
export function geluTanhSlope(g: Graph, u: Value): Value {
  const s = Math.sqrt(2 / Math.PI), c = 0.044715;
  const u2 = g.mul(u, u);
  const t = g.tanh(g.mul(u, g.add(g.mul(u2, s * c), s)));
  const dInner = g.add(g.mul(u2, 3 * s * c), s);
  const uSech2 = g.sub(u, g.mul(g.mul(u, t), t)); // u (1 - t²)
  return g.mul(g.add(g.add(t, 1), g.mul(uSech2, dInner)), 0.5);
}

/** Gradient of a gather of rows: a scatter-add of `dy` into zeros shaped like `data`. */
function scatterRows(g: Graph, data: Value, indices: Value, dy: Value): Value {
  const at = g.unsqueeze(g.cast(indices, "int64"), [rankOf(indices, "Gather")]);
  return g.scatterND(g.zerosLike(data), at, dy, "add");
}

const intsAttr = (op: RuleContext, name: string) => op.node!.attributes[name] as number[];
const intAttr = (op: RuleContext, name: string, fallback: number) =>
  (op.node!.attributes[name] as number | undefined) ?? fallback;

const unary = (f: (g: Graph, x: Value, y: Value, dy: Value) => Value): VjpRule => (g, op) => [
  f(g, op.inputs[0], op.outputs[0], op.dOutputs[0]!),
];

const reshapeBack: VjpRule = (g, op) => [
  g.reshape(op.dOutputs[0]!, g.shape(op.inputs[0]), op.inputs[0].shape ?? undefined),
];

/** The rules, by ONNX op type (contrib ops by their name). */
export const RULES: Record<string, VjpRule> = {
  Identity: (_g, op) => [op.dOutputs[0]],
  Add: (g, { inputs: [a, b], dOutputs: [dy], needs }) => [
    needs[0] ? sumToShape(g, dy!, a) : null,
    needs[1] ? sumToShape(g, dy!, b) : null,
  ],
  Sub: (g, { inputs: [a, b], dOutputs: [dy], needs }) => [
    needs[0] ? sumToShape(g, dy!, a) : null,
    needs[1] ? sumToShape(g, g.neg(dy!), b) : null,
  ],
  Mul: (g, { inputs: [a, b], dOutputs: [dy], needs }) => [
    needs[0] ? sumToShape(g, g.mul(dy!, b), a) : null,
    needs[1] ? sumToShape(g, g.mul(dy!, a), b) : null,
  ],
  Div: (g, { inputs: [a, b], outputs: [y], dOutputs: [dy], needs }) => [
    needs[0] ? sumToShape(g, g.div(dy!, b), a) : null,
    needs[1] ? sumToShape(g, g.neg(g.div(g.mul(dy!, y), b)), b) : null,
  ],
  Sum: (g, { inputs, dOutputs: [dy], needs }) =>
    inputs.map((x, i) => (needs[i] ? sumToShape(g, dy!, x) : null)),
  Pow: (g, { inputs: [x, p], outputs: [y], dOutputs: [dy], needs }) => {
    const constant = g.constantValues(p);
    const lower = constant && constant.length === 1
      ? g.pow(x, constant[0] - 1)
      : g.pow(x, g.sub(p, g.scalar(1, p)));
    return [
      needs[0] ? sumToShape(g, g.mul(g.mul(dy!, p), lower), x) : null,
      needs[1] ? sumToShape(g, g.mul(g.mul(dy!, y), g.log(x)), p) : null,
    ];
  },
  Neg: unary((g, _x, _y, dy) => g.neg(dy)),
  Exp: unary((g, _x, y, dy) => g.mul(dy, y)),
  Log: unary((g, x, _y, dy) => g.div(dy, x)),
  Sqrt: unary((g, _x, y, dy) => g.div(g.mul(dy, 0.5), y)),
  Reciprocal: unary((g, _x, y, dy) => g.neg(g.mul(dy, g.mul(y, y)))),
  Tanh: unary((g, _x, y, dy) => g.mul(dy, g.sub(1, g.mul(y, y)))),
  Sigmoid: unary((g, _x, y, dy) => g.mul(dy, g.mul(y, g.sub(1, y)))),
  Relu: unary((g, x, _y, dy) => g.where(g.greater(x, 0), dy, 0)),
  Erf: unary((g, x, _y, dy) => g.mul(dy, g.mul(g.exp(g.neg(g.mul(x, x))), 2 / Math.sqrt(Math.PI)))),
  FastGelu: unary((g, x, _y, dy) => g.mul(dy, geluTanhSlope(g, x))),
  // x Φ(x): Φ(x) + x φ(x)
  Gelu: unary((g, x, _y, dy) => {
    const cdf = g.mul(g.add(g.erf(g.mul(x, Math.SQRT1_2)), 1), 0.5);
    const pdf = g.mul(g.exp(g.mul(g.mul(x, x), -0.5)), 1 / Math.sqrt(2 * Math.PI));
    return g.mul(dy, g.add(cdf, g.mul(x, pdf)));
  }),
  Cast: (g, { inputs: [x], dOutputs: [dy] }) => [
    x.dtype === "float32" || x.dtype === "float64" ? g.cast(dy!, x.dtype) : null,
  ],
  Where: (g, { inputs: [c, a, b], dOutputs: [dy], needs }) => [
    null,
    needs[1] ? sumToShape(g, g.where(c, dy!, 0), a) : null,
    needs[2] ? sumToShape(g, g.where(c, 0, dy!), b) : null,
  ],

  MatMul: (g, { inputs: [a, b], dOutputs: [dy], needs }) => {
    const ra = rankOf(a, "MatMul"), rb = rankOf(b, "MatMul");
    let db: Value | null = null;
    const [k, n] = [a.shape![ra - 1], b.shape![rb - 1]];
    if (needs[1] && rb === 2 && ra > 2 && typeof k === "number" && typeof n === "number") {
      // a weight shared over the batch: one 2-D product instead of a batch of them and a sum
      db = g.gemm(g.reshape(a, [-1, k]), g.reshape(dy!, [-1, n]), undefined, { transA: true });
    } else if (needs[1]) db = sumToShape(g, g.matmul(transposeLast(g, a, "MatMul"), dy!), b);
    return [
      needs[0] ? sumToShape(g, g.matmul(dy!, transposeLast(g, b, "MatMul")), a) : null,
      db,
    ];
  },
  Gemm: (g, op) => {
    const [a, b, c] = op.inputs;
    const dy = op.dOutputs[0]!;
    const transA = intAttr(op, "transA", 0) === 1, transB = intAttr(op, "transB", 0) === 1;
    const alphaAttr = op.node!.attributes.alpha as { float: number } | undefined;
    const betaAttr = op.node!.attributes.beta as { float: number } | undefined;
    const alpha = alphaAttr?.float ?? 1, beta = betaAttr?.float ?? 1;
    const o = { alpha };
    // Y = α op(A) op(B) + β C; each gradient is one Gemm whose flags do the transposes
    const dA = !op.needs[0]
      ? null
      : transA
      ? g.gemm(b, dy, undefined, { ...o, transA: transB, transB: true })
      : g.gemm(dy, b, undefined, { ...o, transB: !transB });
    const dB = !op.needs[1]
      ? null
      : transB
      ? g.gemm(dy, a, undefined, { ...o, transA: true, transB: transA })
      : g.gemm(a, dy, undefined, { ...o, transA: !transA });
    let dC: Value | null = null;
    if (c && op.needs[2]) dC = sumToShape(g, beta === 1 ? dy : g.mul(dy, beta), c);
    return c ? [dA, dB, dC] : [dA, dB];
  },

  ReduceSum: (g, op) => {
    const x = op.inputs[0];
    const axes = g.constantValues(op.inputs[1]);
    if (!axes) throw new Error("ReduceSum gradient: the axes must be a constant");
    return [unreduce(g, op.dOutputs[0]!, x, axes, intAttr(op, "keepdims", 1) === 1), null];
  },
  ReduceMean: (g, op) => {
    const x = op.inputs[0], axes = intsAttr(op, "axes");
    const spread = unreduce(g, op.dOutputs[0]!, x, axes, intAttr(op, "keepdims", 1) === 1);
    return [g.div(spread, countOver(g, x, axes))];
  },
  ReduceMax: (g, op) => {
    const x = op.inputs[0], axes = intsAttr(op, "axes");
    const keep = intAttr(op, "keepdims", 1) === 1;
    const r = rankOf(x, "ReduceMax");
    const max = keep ? op.outputs[0] : g.unsqueeze(op.outputs[0], axes.map((a) => normAxis(a, r)));
    // ties share the gradient equally
    const hit = g.cast(g.equal(x, max), x.dtype);
    const ties = g.reduceSum(hit, axes, true);
    return [g.mul(g.div(hit, ties), unreduce(g, op.dOutputs[0]!, x, axes, keep))];
  },
  Softmax: (g, op) => {
    const y = op.outputs[0], dy = op.dOutputs[0]!, axis = intAttr(op, "axis", -1);
    return [g.mul(y, g.sub(dy, g.reduceSum(g.mul(dy, y), [axis], true)))];
  },
  LogSoftmax: (g, op) => {
    const y = op.outputs[0], dy = op.dOutputs[0]!, axis = intAttr(op, "axis", -1);
    return [g.sub(dy, g.mul(g.exp(y), g.reduceSum(dy, [axis], true)))];
  },
  LayerNormalization: (g, op) => {
    const node = op.node!;
    const [x, w, b] = op.inputs;
    const dy = op.dOutputs[0]!;
    const r = rankOf(x, "LayerNormalization");
    if (normAxis(intAttr(op, "axis", -1), r) !== r - 1) {
      throw new Error("LayerNormalization gradient: only the last axis is supported");
    }
    // the forward's mean and 1/std, kept by the node itself (its optional outputs)
    const statShape = x.shape!.map((d, i) => (i === r - 1 ? 1 : d)) as Dim[];
    while (node.outputs.length < 3) g.addOutput(node, x.dtype, statShape);
    const [, mean, rstd] = node.outputs;
    const xhat = g.mul(g.sub(x, mean), rstd);
    const lead = [...Array(r - 1).keys()];
    const dW = op.needs[1] ? g.reduceSum(g.mul(dy, xhat), lead) : null;
    const dB = b && op.needs[2] ? g.reduceSum(dy, lead) : null;
    let dX: Value | null = null;
    if (op.needs[0]) {
      const dxhat = g.mul(dy, w);
      const meanD = g.reduceMean(dxhat, [-1], true);
      const meanDX = g.reduceMean(g.mul(dxhat, xhat), [-1], true);
      dX = g.mul(g.sub(g.sub(dxhat, meanD), g.mul(xhat, meanDX)), rstd);
    }
    return [dX, dW, dB];
  },

  Gather: (g, op) => {
    const [data, indices] = op.inputs;
    if (normAxis(intAttr(op, "axis", 0), rankOf(data, "Gather")) !== 0) {
      throw new Error("Gather gradient: only axis 0 is supported");
    }
    return [scatterRows(g, data, indices, op.dOutputs[0]!), null];
  },
  GatherElements: (g, op) => {
    const [data, indices] = op.inputs;
    const axis = intAttr(op, "axis", 0);
    return [g.scatterElements(g.zerosLike(data), indices, op.dOutputs[0]!, axis, "add"), null];
  },

  Reshape: (g, op) => [...reshapeBack(g, op), null],
  Squeeze: (g, op) => [...reshapeBack(g, op), null],
  Unsqueeze: (g, op) => [...reshapeBack(g, op), null],
  Transpose: (g, op) => {
    const perm = intsAttr(op, "perm");
    const inverse = perm.map((_, i) => perm.indexOf(i));
    return [g.transpose(op.dOutputs[0]!, inverse)];
  },
  Expand: (g, op) => [sumToShape(g, op.dOutputs[0]!, op.inputs[0]), null],
  Concat: (g, op) => {
    const axis = intAttr(op, "axis", 0);
    const r = rankOf(op.inputs[0], "Concat");
    const a = normAxis(axis, r);
    const sizes = op.inputs.map((x) => x.shape?.[a] ?? null);
    const parts = sizes.every((d) => typeof d === "number")
      ? g.split(op.dOutputs[0]!, sizes as number[], a)
      : splitBy(g, op.dOutputs[0]!, op.inputs, a);
    return parts.map((p, i) => (op.needs[i] ? p : null));
  },
  Split: (g, op) => {
    const axis = intAttr(op, "axis", 0);
    const parts = op.outputs.map((o, i) => op.dOutputs[i] ?? g.zerosLike(o));
    return [g.concat(parts, axis), null];
  },
  Slice: (g, op) => {
    const [x, starts, ends, axesValue, steps] = op.inputs;
    if (steps && (g.constantValues(steps) ?? [0]).some((s) => s !== 1)) {
      throw new Error("Slice gradient: only step 1 is supported");
    }
    const axes = axesValue ? g.constantValues(axesValue) : null;
    if (!axes) throw new Error("Slice gradient: the axes must be a constant");
    return [g.pad(op.dOutputs[0]!, slicePads(g, x, starts, ends, axes), x.shape ?? undefined)];
  },
  Pad: (g, op) => {
    const [x, pads] = op.inputs;
    const r = rankOf(x, "Pad");
    const dy = op.dOutputs[0]!;
    const begin = g.slice(pads, [0], [r], [0]);
    const end = g.sub(g.shape(dy), g.slice(pads, [r], [2 * r], [0]));
    return [g.slice(dy, begin, end, [...Array(r).keys()], x.shape ?? undefined), null];
  },
};

/** Splits `dy` along `axis` into pieces as long as each of `inputs` (runtime sizes). */
function splitBy(g: Graph, dy: Value, inputs: readonly Value[], axis: number): Value[] {
  const sizes = g.concat(inputs.map((x) => g.gather(g.shape(x), g.ints([axis]))), 0);
  return g.node(
    "Split",
    [dy, sizes],
    inputs.map((x) => ({ dtype: dy.dtype, shape: x.shape })),
    { axis },
  );
}

/** Pads that undo a step-1 slice: per axis, the normalised start before and dim - end after. */
function slicePads(g: Graph, x: Value, starts: Value, ends: Value, axes: number[]): Value {
  const r = rankOf(x, "Slice");
  const shape = g.shape(x);
  const before: Value[] = [], after: Value[] = [];
  const zero = g.ints([0]);
  for (let i = 0; i < r; i++) {
    const j = axes.map((a) => normAxis(a, r)).indexOf(i);
    if (j < 0) {
      before.push(zero);
      after.push(zero);
      continue;
    }
    const dim = g.gather(shape, g.ints([i]));
    const clamp = (v: Value) => g.min(g.max(g.where(g.less(v, 0), g.add(v, dim), v), 0), dim);
    const at = g.ints([j]);
    const start = clamp(g.gather(starts, at));
    const end = g.max(clamp(g.gather(ends, at)), start);
    before.push(start);
    after.push(g.sub(dim, end));
  }
  return g.concat([...before, ...after], 0);
}

/**
 * A small builder of ONNX graphs: typed values with the static shapes that are
 * known, one method per operator our models use, and enough bookkeeping
 * (producers, composite ops) for models/graph/autodiff.ts to derive the
 * backward pass. A model is written once against this API; the decode, score
 * and training graphs are different outputs of the same builder code.
 *
 * Dims are numbers, symbols ("B", "T") or null (unknown). Products of symbols
 * are kept canonical ("B*T"), so a reshape [B, T, C] → [B*T, C] → [B, T, C]
 * still knows its dims, which the gradient rules need to undo broadcasting.
 * @module
 */
import {
  type AttributeValue,
  DataType,
  encodeModel,
  type NodeSpec,
  type TensorSpec,
  type ValueSpec,
} from "./onnx_proto.ts";

/** Element types of graph values. */
export type DType = "float32" | "float64" | "int64" | "bool";

/** One dim of a static shape: a size, a symbol or a product of symbols, or null (unknown). */
export type Dim = number | string | null;

/** A tensor in the graph: a graph input, a constant or a node's output. */
export interface Value {
  /** Its name in the serialised graph (graph inputs and named outputs keep theirs). */
  readonly name: string;
  /** Element type. */
  readonly dtype: DType;
  /** Static shape (null: rank unknown). */
  readonly shape: readonly Dim[] | null;
}

/** What a vector-Jacobian rule receives for one op. */
export interface RuleContext {
  /** The op's inputs. */
  readonly inputs: readonly Value[];
  /** The op's outputs. */
  readonly outputs: readonly Value[];
  /** The ONNX node (for a primitive op; absent for a composite). */
  readonly node?: Node;
  /** Gradients of the outputs (null where no gradient flows). */
  readonly dOutputs: readonly (Value | null)[];
  /** Which inputs need a gradient. */
  readonly needs: readonly boolean[];
}

/** A vector-Jacobian rule: emits the backward nodes and returns each input's gradient. */
export type VjpRule = (g: Graph, op: RuleContext) => (Value | null)[];

/** One ONNX node of the graph. */
export interface Node {
  /** Operator type. */
  readonly op: string;
  /** "" (ONNX) or "com.microsoft" (ONNX Runtime's contrib ops). */
  readonly domain: string;
  /** Inputs, in the operator's order. */
  readonly inputs: readonly Value[];
  /** Outputs; a rule may append optional outputs it needs (LayerNormalization's statistics). */
  readonly outputs: Value[];
  /** Attributes. */
  readonly attributes: Record<string, AttributeValue>;
}

/** A unit of differentiation: one primitive node, or a composite op with its own rule. */
export interface Op {
  /** Inputs of the unit. */
  readonly inputs: readonly Value[];
  /** Outputs of the unit. */
  readonly outputs: readonly Value[];
  /** The node, for a primitive. */
  readonly node?: Node;
  /** The rule of a composite (primitives look theirs up by op type). */
  readonly rule?: VjpRule;
}

const ONNX_TYPE: Record<DType, number> = {
  float32: DataType.FLOAT,
  float64: DataType.DOUBLE,
  int64: DataType.INT64,
  bool: DataType.BOOL,
};

/** Whether a dtype is differentiable. */
export const isFloat = (dtype: DType): boolean => dtype === "float32" || dtype === "float64";

// --- dims ---------------------------------------------------------------------------------

/** A dim as coefficient × sorted symbols, or null for dims that are not products (sums, unknowns). */
function monomial(d: Dim): { k: number; syms: string[] } | null {
  if (typeof d === "number") return { k: d, syms: [] };
  if (d === null || /[^\w*]/.test(d)) return null;
  let k = 1;
  const syms: string[] = [];
  for (const part of d.split("*")) {
    if (/^\d+$/.test(part)) k *= Number(part);
    else syms.push(part);
  }
  return { k, syms: syms.sort() };
}

function fromMonomial(k: number, syms: string[]): Dim {
  if (syms.length === 0) return k;
  return [...(k === 1 ? [] : [String(k)]), ...syms].join("*");
}

/** The product of dims, symbolic where needed (null when a factor is unknown). */
export function dimProduct(dims: readonly Dim[]): Dim {
  let k = 1;
  const syms: string[] = [];
  for (const d of dims) {
    const m = monomial(d);
    if (!m) return null;
    k *= m.k;
    syms.push(...m.syms);
  }
  return fromMonomial(k, syms.sort());
}

/** a / b for dims (null when it does not divide evenly). */
function dimQuotient(a: Dim, b: Dim): Dim {
  const [x, y] = [monomial(a), monomial(b)];
  if (!x || !y || y.k === 0 || x.k % y.k !== 0) return null;
  const syms = [...x.syms];
  for (const s of y.syms) {
    const i = syms.indexOf(s);
    if (i < 0) return null;
    syms.splice(i, 1);
  }
  return fromMonomial(x.k / y.k, syms);
}

/** Whether two dims are known to be equal. */
export function sameDim(a: Dim, b: Dim): boolean {
  if (a === null || b === null) return false;
  return canonical(a) === canonical(b);
}

function canonical(d: Dim): Dim {
  const m = monomial(d);
  return m ? fromMonomial(m.k, m.syms) : d;
}

/** NumPy-style broadcast of static shapes (a known size wins over a symbol, a symbol over null). */
export function broadcastShapes(...shapes: (readonly Dim[] | null)[]): Dim[] | null {
  if (shapes.some((s) => s === null)) return null;
  const rank = Math.max(...shapes.map((s) => s!.length));
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    const dims = shapes.map((s) => s![s!.length - rank + i] ?? 1).filter((d) => d !== 1);
    const sizes = new Set(dims.filter((d) => typeof d === "number"));
    if (sizes.size > 1) {
      throw new RangeError(`Cannot broadcast shapes ${shapes.map((x) => fmt(x)).join(" and ")}`);
    }
    const symbol = dims.find((d) => typeof d === "string");
    out.push(
      dims.length === 0 ? 1 : sizes.size ? [...sizes][0] : symbol !== undefined ? symbol : null,
    );
  }
  return out;
}

/** A shape as text, for errors: [B, T, 768]. */
export function fmt(shape: readonly Dim[] | null): string {
  return shape ? `[${shape.map((d) => d ?? "?").join(", ")}]` : "[unranked]";
}

const normAxis = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);

// --- the graph ------------------------------------------------------------------------------

/** A graph input or output declared with its dtype only (the runtime infers its shape). */
export interface Undeclared {
  /** The value. */
  value: Value;
  /** Always false: leave the shape out. */
  declare: false;
}

/** Options of {@linkcode Graph.gemm}. */
export interface GemmOptions {
  /** Use Aᵀ. */
  transA?: boolean;
  /** Use Bᵀ. */
  transB?: boolean;
  /** Scale of A·B. */
  alpha?: number;
}

/**
 * An ONNX graph under construction. Methods append nodes and return their
 * outputs; `input` declares graph inputs; `model` serialises the part of the
 * graph that computes the requested outputs.
 */
export class Graph {
  /** Every node, in emission order. */
  readonly nodes: Node[] = [];
  /** Units of differentiation, in emission order. */
  readonly ops: Op[] = [];
  /** The node producing each value, by name. */
  readonly producer: Map<string, Node> = new Map();
  /** Graph inputs, by name. */
  readonly inputs: Map<string, Value> = new Map();
  /** Constants, by name. */
  readonly constants: Map<string, TensorSpec> = new Map();
  #constantByKey = new Map<string, Value>();
  #names = new Set<string>();
  #count = 0;
  #composite = 0;

  /** Declares a graph input. */
  input(name: string, dtype: DType, shape: readonly Dim[] | null): Value {
    if (this.#names.has(name)) throw new Error(`Graph value "${name}" is declared twice`);
    this.#names.add(name);
    const value = { name, dtype, shape };
    this.inputs.set(name, value);
    return value;
  }

  /** One float32 input per entry of `shapes` (a model's weights by name). */
  weightInputs(shapes: ReadonlyMap<string, readonly number[]>): Map<string, Value> {
    const values = new Map<string, Value>();
    for (const [name, shape] of shapes) values.set(name, this.input(name, "float32", shape));
    return values;
  }

  #fresh(hint: string): string {
    let name: string;
    do name = `${hint}_${this.#count++}`; while (this.#names.has(name));
    this.#names.add(name);
    return name;
  }

  /** Gives `value` a stable name (graph outputs the caller reads). Returns it. */
  name(value: Value, name: string): Value {
    if (value.name === name) return value;
    if (this.inputs.has(value.name) || this.constants.has(value.name)) {
      return this.name(this.identity(value), name);
    }
    if (this.#names.has(name)) throw new Error(`Graph value "${name}" is declared twice`);
    const node = this.producer.get(value.name)!;
    this.producer.delete(value.name);
    this.#names.delete(value.name);
    (value as { name: string }).name = name;
    this.#names.add(name);
    this.producer.set(name, node);
    return value;
  }

  /** A constant tensor (deduplicated by content). */
  constant(values: ArrayLike<number>, dims: readonly number[], dtype: DType): Value {
    const data = dtype === "int64"
      ? BigInt64Array.from(Array.from(values), (v) => BigInt(v))
      : dtype === "float64"
      ? Float64Array.from(values)
      : dtype === "bool"
      ? Uint8Array.from(values)
      : Float32Array.from(values);
    const key = `${dtype}|${dims.join(",")}|${Array.from(values).join(",")}`;
    const known = this.#constantByKey.get(key);
    if (known) return known;
    const name = this.#fresh("const");
    this.constants.set(name, { name, dims: [...dims], dataType: ONNX_TYPE[dtype], values: data });
    const value: Value = { name, dtype, shape: dims };
    this.#constantByKey.set(key, value);
    return value;
  }

  /** A 1-D int64 constant. */
  ints(values: readonly number[]): Value {
    return this.constant(values, [values.length], "int64");
  }

  /** A scalar constant of `like`'s dtype. */
  scalar(value: number, like: Value | DType = "float32"): Value {
    return this.constant([value], [], typeof like === "string" ? like : like.dtype);
  }

  /** The constant values of `value`, when it is a constant. */
  constantValues(value: Value): number[] | null {
    const c = this.constants.get(value.name);
    return c ? Array.from(c.values as ArrayLike<number | bigint>, Number) : null;
  }

  /**
   * Appends a node. `outputs` gives each output's dtype and shape; the outputs
   * get fresh names. Returns them.
   */
  node(
    op: string,
    inputs: readonly Value[],
    outputs: readonly { dtype: DType; shape: readonly Dim[] | null }[],
    attributes: Record<string, AttributeValue> = {},
    domain = "",
  ): Value[] {
    for (const v of inputs) {
      if (!v) throw new Error(`${op}: an input is undefined`);
    }
    const values = outputs.map((o) => ({
      name: this.#fresh(op.toLowerCase()),
      dtype: o.dtype,
      shape: o.shape,
    }));
    const node: Node = { op, domain, inputs, outputs: values, attributes };
    this.nodes.push(node);
    for (const v of values) this.producer.set(v.name, node);
    if (this.#composite === 0) this.ops.push({ inputs, outputs: values, node });
    return values;
  }

  /** Appends one output to `node` (an optional output a rule needs). */
  addOutput(node: Node, dtype: DType, shape: readonly Dim[] | null): Value {
    const value = { name: this.#fresh(node.op.toLowerCase()), dtype, shape };
    node.outputs.push(value);
    this.producer.set(value.name, node);
    return value;
  }

  #one(
    op: string,
    inputs: readonly Value[],
    dtype: DType,
    shape: readonly Dim[] | null,
    attributes?: Record<string, AttributeValue>,
    domain?: string,
  ): Value {
    return this.node(op, inputs, [{ dtype, shape }], attributes, domain)[0];
  }

  /**
   * A composite op: `forward` emits its nodes; autodiff treats them as one unit
   * with `rule` as its vector-Jacobian rule (fused backward passes).
   */
  composite(
    inputs: readonly Value[],
    forward: () => Value[],
    rule: VjpRule,
  ): Value[] {
    this.#composite++;
    let outputs: Value[];
    try {
      outputs = forward();
    } finally {
      this.#composite--;
    }
    if (this.#composite === 0) this.ops.push({ inputs, outputs, rule });
    return outputs;
  }

  // --- elementwise ---

  #binary(op: string, a: Value, b: Value): Value {
    if (a.dtype !== b.dtype) throw new TypeError(`${op}: ${a.dtype} and ${b.dtype} operands`);
    return this.#one(op, [a, b], a.dtype, broadcastShapes(a.shape, b.shape));
  }
  /** a + b (broadcasting). */
  add(a: Value, b: Value | number): Value {
    return this.#binary("Add", a, this.#lift(b, a));
  }
  /** a - b (broadcasting). */
  sub(a: Value | number, b: Value | number): Value {
    const [x, y] = typeof a === "number" ? [this.#lift(a, b as Value), b as Value] : [a, b];
    return this.#binary("Sub", x, this.#lift(y, x));
  }
  /** a · b elementwise (broadcasting). */
  mul(a: Value, b: Value | number): Value {
    return this.#binary("Mul", a, this.#lift(b, a));
  }
  /** a / b (broadcasting). */
  div(a: Value | number, b: Value | number): Value {
    const [x, y] = typeof a === "number" ? [this.#lift(a, b as Value), b as Value] : [a, b];
    return this.#binary("Div", x, this.#lift(y, x));
  }
  /** a^b (broadcasting). */
  pow(a: Value, b: Value | number): Value {
    return this.#one("Pow", [a, this.#lift(b, a)], a.dtype, a.shape);
  }
  /** Elementwise minimum. */
  min(a: Value, b: Value | number): Value {
    return this.#binary("Min", a, this.#lift(b, a));
  }
  /** Elementwise maximum. */
  max(a: Value, b: Value | number): Value {
    return this.#binary("Max", a, this.#lift(b, a));
  }
  /** a == b, as bool. */
  equal(a: Value, b: Value | number): Value {
    const y = this.#lift(b, a);
    return this.#one("Equal", [a, y], "bool", broadcastShapes(a.shape, y.shape));
  }
  /** a > b, as bool. */
  greater(a: Value, b: Value | number): Value {
    const y = this.#lift(b, a);
    return this.#one("Greater", [a, y], "bool", broadcastShapes(a.shape, y.shape));
  }
  /** a < b, as bool. */
  less(a: Value, b: Value | number): Value {
    const y = this.#lift(b, a);
    return this.#one("Less", [a, y], "bool", broadcastShapes(a.shape, y.shape));
  }
  /** cond ? a : b (broadcasting). */
  where(cond: Value, a: Value | number, b: Value | number): Value {
    const like = typeof a === "number" ? b as Value : a;
    const [x, y] = [this.#lift(a, like), this.#lift(b, like)];
    return this.#one("Where", [cond, x, y], x.dtype, broadcastShapes(cond.shape, x.shape, y.shape));
  }
  /** The sum of several same-dtype values (broadcasting). */
  sum(values: readonly Value[]): Value {
    if (values.length === 1) return values[0];
    if (values.length === 2) return this.add(values[0], values[1]);
    return this.#one(
      "Sum",
      values,
      values[0].dtype,
      broadcastShapes(...values.map((v) => v.shape)),
    );
  }

  #lift(x: Value | number, like: Value): Value {
    return typeof x === "number" ? this.scalar(x, like) : x;
  }

  #unary(op: string, x: Value, domain?: string): Value {
    return this.#one(op, [x], x.dtype, x.shape, undefined, domain);
  }
  /** -x. */
  neg(x: Value): Value {
    return this.#unary("Neg", x);
  }
  /** √x. */
  sqrt(x: Value): Value {
    return this.#unary("Sqrt", x);
  }
  /** 1/x. */
  reciprocal(x: Value): Value {
    return this.#unary("Reciprocal", x);
  }
  /** eˣ. */
  exp(x: Value): Value {
    return this.#unary("Exp", x);
  }
  /** ln x. */
  log(x: Value): Value {
    return this.#unary("Log", x);
  }
  /** tanh x. */
  tanh(x: Value): Value {
    return this.#unary("Tanh", x);
  }
  /** The error function. */
  erf(x: Value): Value {
    return this.#unary("Erf", x);
  }
  /** max(x, 0). */
  relu(x: Value): Value {
    return this.#unary("Relu", x);
  }
  /** 1 / (1 + e⁻ˣ). */
  sigmoid(x: Value): Value {
    return this.#unary("Sigmoid", x);
  }
  /** gelu_new: 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))), ONNX Runtime's fused contrib op. */
  fastGelu(x: Value): Value {
    return this.#unary("FastGelu", x, "com.microsoft");
  }
  /** Exact GELU, x Φ(x), ONNX Runtime's contrib op. */
  gelu(x: Value): Value {
    return this.#unary("Gelu", x, "com.microsoft");
  }
  /** x unchanged (a named copy). */
  identity(x: Value): Value {
    return this.#unary("Identity", x);
  }
  /** x converted to `dtype`. */
  cast(x: Value, dtype: DType): Value {
    if (x.dtype === dtype) return x;
    return this.#one("Cast", [x], dtype, x.shape, { to: ONNX_TYPE[dtype] });
  }

  // --- linear algebra ---

  /** Batched matrix product (NumPy matmul broadcasting; ranks >= 2). */
  matmul(a: Value, b: Value): Value {
    const [sa, sb] = [a.shape, b.shape];
    let shape: Dim[] | null = null;
    if (sa && sb) {
      if (sa.length < 2 || sb.length < 2) throw new RangeError("matmul needs ranks >= 2");
      const batch = broadcastShapes(sa.slice(0, -2), sb.slice(0, -2))!;
      shape = [...batch, sa[sa.length - 2], sb[sb.length - 1]];
    }
    return this.#one("MatMul", [a, b], a.dtype, shape);
  }

  /** alpha · op(A) · op(B) (+ C), 2-D (ONNX Gemm). */
  gemm(a: Value, b: Value, c?: Value, options: GemmOptions = {}): Value {
    const { transA = false, transB = false, alpha = 1 } = options;
    const m = a.shape ? a.shape[transA ? 1 : 0] : null;
    const n = b.shape ? b.shape[transB ? 0 : 1] : null;
    const attributes: Record<string, AttributeValue> = {};
    if (transA) attributes.transA = 1;
    if (transB) attributes.transB = 1;
    if (alpha !== 1) attributes.alpha = { float: alpha };
    return this.#one("Gemm", c ? [a, b, c] : [a, b], a.dtype, [m, n], attributes);
  }

  // --- reductions and normalisations ---

  #reduced(x: Value, axes: readonly number[], keepdims: boolean): Dim[] | null {
    if (!x.shape) return null;
    const r = x.shape.length;
    const drop = new Set(axes.map((a) => normAxis(a, r)));
    const out: Dim[] = [];
    x.shape.forEach((d, i) => {
      if (!drop.has(i)) out.push(d);
      else if (keepdims) out.push(1);
    });
    return out;
  }
  /** Sum over `axes`. */
  reduceSum(x: Value, axes: readonly number[], keepdims = false): Value {
    return this.#one("ReduceSum", [x, this.ints(axes)], x.dtype, this.#reduced(x, axes, keepdims), {
      keepdims: keepdims ? 1 : 0,
    });
  }
  /** Mean over `axes`. */
  reduceMean(x: Value, axes: readonly number[], keepdims = false): Value {
    return this.#one("ReduceMean", [x], x.dtype, this.#reduced(x, axes, keepdims), {
      axes: [...axes],
      keepdims: keepdims ? 1 : 0,
    });
  }
  /** Maximum over `axes`. */
  reduceMax(x: Value, axes: readonly number[], keepdims = false): Value {
    return this.#one("ReduceMax", [x], x.dtype, this.#reduced(x, axes, keepdims), {
      axes: [...axes],
      keepdims: keepdims ? 1 : 0,
    });
  }
  /** Product over `axes` (used on int64 shapes). */
  reduceProd(x: Value, axes: readonly number[], keepdims = false): Value {
    return this.#one("ReduceProd", [x], x.dtype, this.#reduced(x, axes, keepdims), {
      axes: [...axes],
      keepdims: keepdims ? 1 : 0,
    });
  }
  /** Softmax along `axis`. */
  softmax(x: Value, axis = -1): Value {
    return this.#one("Softmax", [x], x.dtype, x.shape, { axis });
  }
  /** Log-softmax along `axis`. */
  logSoftmax(x: Value, axis = -1): Value {
    return this.#one("LogSoftmax", [x], x.dtype, x.shape, { axis });
  }
  /** LayerNorm over the last axis: (x - mean) / √(var + eps) · weight + bias. */
  layerNorm(x: Value, weight: Value, bias: Value, epsilon: number): Value {
    return this.#one("LayerNormalization", [x, weight, bias], x.dtype, x.shape, {
      axis: -1,
      epsilon: { float: epsilon },
    });
  }

  // --- indexing ---

  /** Rows of `data` along `axis` picked by `indices`. */
  gather(data: Value, indices: Value, axis = 0): Value {
    let shape: Dim[] | null = null;
    if (data.shape && indices.shape) {
      const a = normAxis(axis, data.shape.length);
      shape = [...data.shape.slice(0, a), ...indices.shape, ...data.shape.slice(a + 1)];
    }
    return this.#one("Gather", [data, indices], data.dtype, shape, { axis });
  }
  /** data[..., indices[...], ...] elementwise along `axis` (the indices' shape). */
  gatherElements(data: Value, indices: Value, axis: number): Value {
    return this.#one("GatherElements", [data, indices], data.dtype, indices.shape, { axis });
  }
  /** `data` with `updates` added (or written) at the index tuples `indices` [..., k]. */
  scatterND(data: Value, indices: Value, updates: Value, reduction: "add" | "none"): Value {
    const attributes: Record<string, AttributeValue> = {};
    if (reduction !== "none") attributes.reduction = reduction;
    return this.#one("ScatterND", [data, indices, updates], data.dtype, data.shape, attributes);
  }
  /** `data` with `updates` added (or written) elementwise at `indices` along `axis`. */
  scatterElements(
    data: Value,
    indices: Value,
    updates: Value,
    axis: number,
    reduction: "add" | "none",
  ): Value {
    const attributes: Record<string, AttributeValue> = { axis };
    if (reduction !== "none") attributes.reduction = reduction;
    return this.#one(
      "ScatterElements",
      [data, indices, updates],
      data.dtype,
      data.shape,
      attributes,
    );
  }
  // --- shapes ---

  /** The runtime shape of `x` (int64 [rank]). */
  shape(x: Value): Value {
    return this.#one("Shape", [x], "int64", [x.shape ? x.shape.length : null]);
  }
  /** A tensor of `shape` (an int64 [rank] value) filled with `value`. */
  constantOfShape(shape: Value, value: number, dtype: DType, staticShape: readonly Dim[] | null) {
    const fill: TensorSpec = {
      dims: [1],
      dataType: ONNX_TYPE[dtype],
      values: dtype === "float64"
        ? new Float64Array([value])
        : dtype === "int64"
        ? new BigInt64Array([BigInt(value)])
        : new Float32Array([value]),
    };
    return this.#one("ConstantOfShape", [shape], dtype, staticShape, { value: fill });
  }
  /** Zeros shaped like `x`. */
  zerosLike(x: Value): Value {
    return this.constantOfShape(this.shape(x), 0, x.dtype, x.shape);
  }

  /**
   * `x` reshaped. With a constant target (0 copies a dim, -1 is inferred) the
   * result's dims are inferred; with a runtime target (an int64 value) give them.
   */
  reshape(x: Value, target: readonly number[] | Value, dims?: readonly Dim[]): Value {
    if (!Array.isArray(target)) {
      return this.#one("Reshape", [x, target as Value], x.dtype, dims ?? null);
    }
    const t = target as readonly number[];
    let shape: Dim[] | null = t.map((
      d,
      i,
    ) => (d === 0 ? x.shape?.[i] ?? null : d === -1 ? null : d));
    const inferred = t.indexOf(-1);
    if (inferred >= 0 && x.shape) {
      const known = shape.filter((_, i) => i !== inferred);
      shape[inferred] = dimQuotient(dimProduct(x.shape), dimProduct(known));
    } else if (inferred >= 0) shape = dims ? [...dims] : shape;
    if (dims) shape = [...dims];
    return this.#one("Reshape", [x, this.ints(t)], x.dtype, shape);
  }
  /** Axes permuted: result axis i is input axis perm[i]. A transpose of its inverse folds away. */
  transpose(x: Value, perm: readonly number[]): Value {
    if (perm.every((p, i) => p === i)) return x;
    // a transpose that undoes another gives back its input (other pairs stay: ONNX Runtime folds
    // a last-two-axes transpose into the MatMul that reads it, which a merged one would defeat)
    const inner = this.producer.get(x.name);
    const first = inner?.op === "Transpose" ? inner.attributes.perm as number[] : null;
    if (first && perm.every((p, i) => first[p] === i)) return inner!.inputs[0];
    const shape = x.shape ? perm.map((p) => x.shape![p]) : null;
    return this.#one("Transpose", [x], x.dtype, shape, { perm: [...perm] });
  }
  /** Drops the size-1 `axes`. */
  squeeze(x: Value, axes: readonly number[]): Value {
    return this.#one("Squeeze", [x, this.ints(axes)], x.dtype, this.#reduced(x, axes, false));
  }
  /** Inserts size-1 `axes` (positions in the result). */
  unsqueeze(x: Value, axes: readonly number[]): Value {
    let shape: Dim[] | null = null;
    if (x.shape) {
      const r = x.shape.length + axes.length;
      const at = new Set(axes.map((a) => normAxis(a, r)));
      const rest = [...x.shape];
      shape = Array.from({ length: r }, (_, i) => (at.has(i) ? 1 : rest.shift()!));
    }
    return this.#one("Unsqueeze", [x, this.ints(axes)], x.dtype, shape);
  }
  /** Values joined along `axis`. */
  concat(values: readonly Value[], axis: number): Value {
    let shape: Dim[] | null = null;
    if (values.every((v) => v.shape)) {
      const a = normAxis(axis, values[0].shape!.length);
      shape = [...values[0].shape!];
      const parts = values.map((v) => v.shape![a]);
      shape[a] = parts.every((d) => typeof d === "number")
        ? (parts as number[]).reduce((s, d) => s + d, 0)
        : parts.includes(null)
        ? null
        : parts.join("+");
    }
    return this.#one("Concat", values, values[0].dtype, shape, { axis });
  }
  /** `x` cut into pieces of `sizes` along `axis`. */
  split(x: Value, sizes: readonly number[], axis: number): Value[] {
    const a = x.shape ? normAxis(axis, x.shape.length) : 0;
    return this.node(
      "Split",
      [x, this.ints(sizes)],
      sizes.map((s) => ({
        dtype: x.dtype,
        shape: x.shape ? x.shape.map((d, i) => (i === a ? s : d)) : null,
      })),
      { axis },
    );
  }
  /**
   * x[starts:ends] along `axes` (step 1). Constant bounds give static dims;
   * runtime bounds (int64 [len(axes)] values) leave those dims unknown unless given.
   */
  slice(
    x: Value,
    starts: readonly number[] | Value,
    ends: readonly number[] | Value,
    axes: readonly number[],
    dims?: readonly Dim[],
  ): Value {
    const s = Array.isArray(starts) ? this.ints(starts as number[]) : starts as Value;
    const e = Array.isArray(ends) ? this.ints(ends as number[]) : ends as Value;
    let shape: Dim[] | null = dims ? [...dims] : null;
    if (!dims && x.shape) {
      shape = [...x.shape];
      axes.forEach((axis, j) => {
        const a = normAxis(axis, x.shape!.length);
        const d = x.shape![a];
        const [b, f] = [this.constantValues(s)?.[j], this.constantValues(e)?.[j]];
        if (typeof d !== "number" || b === undefined || f === undefined) shape![a] = null;
        else {
          const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + d : v, 0), d);
          shape![a] = Math.max(0, clamp(f) - clamp(b));
        }
      });
    }
    return this.#one("Slice", [x, s, e, this.ints(axes)], x.dtype, shape);
  }
  /** `x` broadcast to `shape` (an int64 value, or constant dims). */
  expand(x: Value, shape: Value | readonly number[], dims?: readonly Dim[]): Value {
    const target = Array.isArray(shape) ? this.ints(shape as number[]) : shape as Value;
    const known = Array.isArray(shape) ? broadcastShapes(x.shape, shape as number[]) : null;
    return this.#one("Expand", [x, target], x.dtype, dims ?? known);
  }
  /** Constant-mode padding by `pads` (int64 [2·rank]: all begins, then all ends). */
  pad(x: Value, pads: Value | readonly number[], dims?: readonly Dim[]): Value {
    const p = Array.isArray(pads) ? this.ints(pads as number[]) : pads as Value;
    let shape: Dim[] | null = dims ? [...dims] : null;
    const values = this.constantValues(p);
    if (!dims && values && x.shape) {
      const r = x.shape.length;
      shape = x.shape.map((d, i) =>
        typeof d === "number"
          ? d + values[i] + values[i + r]
          : values[i] + values[i + r] === 0
          ? d
          : null
      );
    }
    return this.#one("Pad", [x, p], x.dtype, shape);
  }

  // --- serialisation ---

  /**
   * Serialises the nodes needed to compute `outputs` from `inputs` (every other
   * value must be a constant). Throws naming a value that cannot be computed.
   */
  model(spec: {
    name: string;
    inputs: readonly (Value | Undeclared)[];
    outputs: readonly (Value | Undeclared)[];
    opset?: number;
  }): Uint8Array {
    const unwrap = (o: Value | Undeclared) => ("declare" in o ? o.value : o);
    const outputs = spec.outputs.map(unwrap);
    const available = new Set(spec.inputs.map((v) => unwrap(v).name));
    const nodes = this.prune(outputs, available);
    const constants = new Set<string>();
    for (const node of nodes) {
      for (const v of node.inputs) if (this.constants.has(v.name)) constants.add(v.name);
    }
    const toSpec = (node: Node): NodeSpec => ({
      op: node.op,
      domain: node.domain || undefined,
      inputs: node.inputs.map((v) => v.name),
      outputs: node.outputs.map((v) => v.name),
      attributes: node.attributes,
    });
    const valueSpec = (v: Value, declare = true): ValueSpec => ({
      name: v.name,
      dataType: ONNX_TYPE[v.dtype],
      shape: declare && v.shape ? v.shape : undefined,
    });
    return encodeModel({
      name: spec.name,
      nodes: nodes.map(toSpec),
      inputs: spec.inputs.map((v) => valueSpec(unwrap(v), !("declare" in v))),
      outputs: spec.outputs.map((o) => valueSpec(unwrap(o), !("declare" in o))),
      initializers: [...constants].map((name) => this.constants.get(name)!),
      opset: spec.opset,
    });
  }

  /**
   * The nodes (in emission order) needed to compute `outputs` when the values
   * in `available` are given. Throws naming a value nothing computes.
   */
  prune(outputs: readonly Value[], available: ReadonlySet<string>): Node[] {
    const needed = new Set<Node>();
    const stack = [...outputs];
    const seen = new Set<string>();
    while (stack.length) {
      const v = stack.pop()!;
      if (seen.has(v.name)) continue;
      seen.add(v.name);
      if (available.has(v.name) || this.constants.has(v.name)) continue;
      const node = this.producer.get(v.name);
      if (!node) {
        throw new Error(
          `Graph value "${v.name}" is needed but is neither an input nor computed by a node`,
        );
      }
      if (needed.has(node)) continue;
      needed.add(node);
      stack.push(...node.inputs);
    }
    return this.nodes.filter((n) => needed.has(n));
  }
}

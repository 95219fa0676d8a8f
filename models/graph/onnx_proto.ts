/**
 * A minimal writer for ONNX's protobuf messages: just enough of ModelProto,
 * GraphProto, NodeProto, TensorProto and ValueInfoProto to serialise the
 * graphs models/graph/builder.ts builds (field numbers from onnx.proto, IR version 8).
 * @module
 */

/** ONNX tensor element types we use. */
export const DataType = { FLOAT: 1, INT64: 7, BOOL: 9, DOUBLE: 11 } as const;

class Writer {
  #chunks: number[] = [];
  varint(value: number | bigint): this {
    let v = BigInt.asUintN(64, BigInt(value));
    while (v >= 0x80n) {
      this.#chunks.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.#chunks.push(Number(v));
    return this;
  }
  tag(field: number, wireType: number): this {
    return this.varint((field << 3) | wireType);
  }
  int(field: number, value: number): this {
    return this.tag(field, 0).varint(value);
  }
  bytes(field: number, value: Uint8Array): this {
    this.tag(field, 2).varint(value.length);
    for (const b of value) this.#chunks.push(b);
    return this;
  }
  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }
  message(field: number, value: Uint8Array): this {
    return this.bytes(field, value);
  }
  float(field: number, value: number): this {
    this.tag(field, 5);
    const buffer = new Uint8Array(new Float32Array([value]).buffer);
    for (const b of buffer) this.#chunks.push(b);
    return this;
  }
  finish(): Uint8Array {
    return Uint8Array.from(this.#chunks);
  }
}

/** A node attribute value: an int, a float, a string, a list of ints, or a constant tensor. */
export type AttributeValue = number | string | { float: number } | number[] | TensorSpec;

/** A constant tensor. */
export interface TensorSpec {
  name?: string;
  dims: number[];
  dataType: number;
  values: Float32Array | Float64Array | BigInt64Array | Uint8Array;
}

/** One node of the graph. */
export interface NodeSpec {
  op: string;
  /** The operator's domain: "" (ONNX, the default) or "com.microsoft" (ONNX Runtime's contrib ops). */
  domain?: string;
  inputs: string[];
  outputs: string[];
  attributes?: Record<string, AttributeValue>;
}

/**
 * A graph input or output: a name, an element type and a shape (strings are
 * symbolic dims, null an unnamed unknown dim; no shape leaves the rank to the
 * runtime's inference).
 */
export interface ValueSpec {
  name: string;
  dataType: number;
  shape?: readonly (number | string | null)[];
}

function encodeTensor(t: TensorSpec): Uint8Array {
  const w = new Writer();
  for (const d of t.dims) w.int(1, d);
  w.int(2, t.dataType);
  if (t.name) w.string(8, t.name);
  w.bytes(9, new Uint8Array(t.values.buffer, t.values.byteOffset, t.values.byteLength));
  return w.finish();
}

function encodeAttribute(name: string, value: AttributeValue): Uint8Array {
  const w = new Writer().string(1, name);
  if (typeof value === "number") w.int(3, value).int(20, 2);
  else if (typeof value === "string") w.string(4, value).int(20, 3);
  else if (Array.isArray(value)) {
    for (const v of value) w.int(8, v);
    w.int(20, 7);
  } else if ("float" in value) w.float(2, value.float).int(20, 1);
  else w.message(5, encodeTensor(value)).int(20, 4);
  return w.finish();
}

function encodeNode(node: NodeSpec, index: number): Uint8Array {
  const w = new Writer();
  for (const i of node.inputs) w.string(1, i);
  for (const o of node.outputs) w.string(2, o);
  w.string(3, `${node.op}_${index}`);
  w.string(4, node.op);
  if (node.domain) w.string(7, node.domain);
  for (const [name, value] of Object.entries(node.attributes ?? {})) {
    w.message(5, encodeAttribute(name, value));
  }
  return w.finish();
}

function encodeValueInfo(v: ValueSpec): Uint8Array {
  if (!v.shape) {
    const unranked = new Writer().int(1, v.dataType).finish();
    return new Writer().string(1, v.name).message(2, new Writer().message(1, unranked).finish())
      .finish();
  }
  const shape = new Writer();
  for (const d of v.shape) {
    shape.message(
      1,
      typeof d === "number"
        ? new Writer().int(1, d).finish()
        : d === null
        ? new Uint8Array(0)
        : new Writer().string(2, d).finish(),
    );
  }
  const tensorType = new Writer().int(1, v.dataType).message(2, shape.finish()).finish();
  const type = new Writer().message(1, tensorType).finish();
  return new Writer().string(1, v.name).message(2, type).finish();
}

/** Serialises a single-graph ONNX model (default domain, the given opset). */
export function encodeModel(graph: {
  name: string;
  nodes: NodeSpec[];
  inputs: ValueSpec[];
  outputs: ValueSpec[];
  initializers?: TensorSpec[];
  opset?: number;
}): Uint8Array {
  const g = new Writer();
  graph.nodes.forEach((n, i) => g.message(1, encodeNode(n, i)));
  g.string(2, graph.name);
  for (const t of graph.initializers ?? []) g.message(5, encodeTensor(t));
  for (const v of graph.inputs) g.message(11, encodeValueInfo(v));
  for (const v of graph.outputs) g.message(12, encodeValueInfo(v));
  const opset = new Writer().string(1, "").int(2, graph.opset ?? 17).finish();
  const model = new Writer()
    .int(1, 8)
    .string(2, "rlgf")
    .message(7, g.finish())
    .message(8, opset);
  if (graph.nodes.some((n) => n.domain === "com.microsoft")) {
    model.message(8, new Writer().string(1, "com.microsoft").int(2, 1).finish());
  }
  return model.finish();
}

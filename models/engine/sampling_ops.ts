/**
 * The per-token work of sampling on ONNX Runtime, for a batch of rows: the probabilities
 * softmax(logits / T) for sampling from the whole vocabulary (its vectorised kernel takes about
 * as long for 32 rows of GPT-2's 50,257 logits as JavaScript's `Math.exp` takes for one; sampling
 * is then a running sum), and each row's top-k logits for top-k sampling.
 * @module
 */
/** @ignore onnxruntime documents its own types; we reference them, not re-export them. */
import * as ort from "onnxruntime-node";
import { Graph } from "../graph/builder.ts";
import type { TokenDraw } from "../decode_session.ts";
import { SAMPLING_INPUTS } from "./heads.ts";

/** The graph: logits [B, V] and inv_temperature [1] → probabilities [B, V]. */
function buildSoftmaxGraph(): Uint8Array {
  const g = new Graph();
  const logits = g.input("logits", "float32", ["B", "V"]);
  const inverse = g.input("inv_temperature", "float32", [1]);
  const probs = g.name(g.softmax(g.mul(logits, inverse), -1), "probabilities");
  return g.model({ name: "sampling_softmax", inputs: [logits, inverse], outputs: [probs] });
}

/** The graph: logits [B, V] and k [1] → the k largest values [B, k] and their ids. */
function buildTopKGraph(): Uint8Array {
  const g = new Graph();
  const logits = g.input("logits", "float32", ["B", "V"]);
  const k = g.input("k", "int64", [1]);
  const [values, indices] = g.node("TopK", [logits, k], [
    { dtype: "float32", shape: ["B", "K"] },
    { dtype: "int64", shape: ["B", "K"] },
  ], { axis: -1, largest: 1, sorted: 1 });
  return g.model({
    name: "sampling_top_k",
    inputs: [logits, k],
    outputs: [g.name(values, "values"), g.name(indices, "indices")],
  });
}

/** The feeds of a step graph's sampling head ("token"): temperature, uniforms, banned tokens. */
export function drawFeeds(draw: TokenDraw, rows: number): Record<string, ort.Tensor> {
  return {
    [SAMPLING_INPUTS.inverseTemperature]: new ort.Tensor(
      "float32",
      new Float32Array([1 / draw.temperature]),
      [1],
    ),
    [SAMPLING_INPUTS.uniforms]: new ort.Tensor("float64", draw.uniforms, [rows]),
    [SAMPLING_INPUTS.banned]: new ort.Tensor("int64", draw.banned, [rows]),
  };
}

/** The feed of a step graph's top-k head: k. */
export function topKFeeds(k: number): Record<string, ort.Tensor> {
  return { [SAMPLING_INPUTS.topK]: new ort.Tensor("int64", BigInt64Array.from([BigInt(k)]), [1]) };
}

/** The drawn token of each row, from a sampling head's output. */
export function drawnTokens(out: ort.InferenceSession.OnnxValueMapType): Int32Array {
  return Int32Array.from(out.next_token.data as BigInt64Array, (id) => Number(id));
}

/** Each row's k largest logits and their ids, from a top-k head's outputs. */
export function topKOutputs(out: ort.InferenceSession.OnnxValueMapType) {
  return {
    values: out.top_values.data as Float32Array,
    indices: out.top_indices.data as BigInt64Array,
  };
}

/** Sampling sessions (softmax, top-k), each opened on first use; the owner releases them. */
export class OrtSampling {
  #session: Promise<ort.InferenceSession> | null = null;
  #topK: Promise<ort.InferenceSession> | null = null;

  /** @param options the owner's session options (threads) */
  constructor(private options: ort.InferenceSession.SessionOptions) {}

  /**
   * softmax(logits / temperature) of every row.
   * @param logits row-major [rows * vocab]
   * @param rows how many rows
   * @param temperature the softmax temperature (> 0)
   * @returns the probabilities, row-major
   */
  async probabilities(logits: Float32Array, rows: number, temperature: number) {
    this.#session ??= ort.InferenceSession.create(buildSoftmaxGraph(), this.options);
    const session = await this.#session;
    const vocab = logits.length / rows;
    const out = await session.run({
      logits: new ort.Tensor("float32", logits, [rows, vocab]),
      inv_temperature: new ort.Tensor("float32", new Float32Array([1 / temperature]), [1]),
    });
    return out.probabilities.data as Float32Array;
  }

  /**
   * The k largest logits of every row, most likely first (ties: the lower id first).
   * @param logits row-major [rows * vocab]
   * @param rows how many rows
   * @param k how many per row
   * @returns values and token ids, row-major [rows * k]
   */
  async topK(logits: Float32Array, rows: number, k: number) {
    this.#topK ??= ort.InferenceSession.create(buildTopKGraph(), this.options);
    const session = await this.#topK;
    const out = await session.run({
      logits: new ort.Tensor("float32", logits, [rows, logits.length / rows]),
      k: new ort.Tensor("int64", BigInt64Array.from([BigInt(k)]), [1]),
    });
    return { values: out.values.data as Float32Array, indices: out.indices.data as BigInt64Array };
  }

  /** Releases the sessions that were opened. */
  async release(): Promise<void> {
    const sessions = [this.#session, this.#topK];
    this.#session = this.#topK = null;
    await Promise.all(sessions.map(async (s) => (await s)?.release()));
  }
}

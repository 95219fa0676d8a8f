/**
 * Next-token probabilities softmax(logits / T) of a batch of rows on ONNX Runtime, for sampling
 * from the whole vocabulary: its vectorised kernel takes about as long for 32 rows of GPT-2's
 * 50,257 logits as JavaScript's `Math.exp` takes for one, and sampling is then a running sum.
 * @module
 */
/** @ignore onnxruntime documents its own types; we reference them, not re-export them. */
import * as ort from "onnxruntime-node";
import { Graph } from "../graph/builder.ts";

/** The graph: logits [B, V] and inv_temperature [1] → probabilities [B, V]. */
function buildSoftmaxGraph(): Uint8Array {
  const g = new Graph();
  const logits = g.input("logits", "float32", ["B", "V"]);
  const inverse = g.input("inv_temperature", "float32", [1]);
  const probs = g.name(g.softmax(g.mul(logits, inverse), -1), "probabilities");
  return g.model({ name: "sampling_softmax", inputs: [logits, inverse], outputs: [probs] });
}

/** A softmax session, opened on first use; the owner releases it. */
export class OrtSoftmax {
  #session: Promise<ort.InferenceSession> | null = null;

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

  /** Releases the session (if it was opened). */
  async release(): Promise<void> {
    const session = this.#session;
    this.#session = null;
    await (await session)?.release();
  }
}

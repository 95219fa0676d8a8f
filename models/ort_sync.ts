/**
 * A synchronous ONNX Runtime session. tfjs's gradient tape is synchronous (a
 * custom gradient must return its tensors, not a promise), so the training
 * graphs run through onnxruntime-node's native binding directly: its `run` is
 * synchronous and the public `InferenceSession.run` only wraps it in a promise
 * (onnxruntime-node 1.30, dist/backend.js). The binding is an internal module,
 * so the version is pinned in deno.json and {@linkcode openSyncSession} throws
 * when the binding's shape differs (callers then fall back to tfjs).
 * @module
 */
/** @ignore onnxruntime documents its own types; we reference them, not re-export them. */
import type * as ort from "onnxruntime-node";
// @ts-types="./ort_binding.d.ts"
import { binding, initOrt } from "onnxruntime-node/dist/binding.js";

interface RawOutput {
  type: ort.Tensor.Type;
  data: ort.Tensor.DataType;
  dims: readonly number[];
}

interface NativeSession {
  loadModel(buffer: ArrayBufferLike, offset: number, length: number, options: object): void;
  run(
    feeds: Record<string, ort.Tensor>,
    fetches: Record<string, null>,
    options: object,
  ): Record<string, RawOutput>;
  readonly inputMetadata: readonly { name: string }[];
  readonly outputMetadata: readonly { name: string }[];
  dispose(): void;
}

/** One output of {@linkcode SyncSession.run}. */
export interface SyncOutput {
  /** Element type. */
  type: ort.Tensor.Type;
  /** The values (a Float32Array for float outputs, a BigInt64Array for int64 ones). */
  data: ort.Tensor.DataType;
  /** Shape. */
  dims: number[];
}

/** An ONNX Runtime session whose `run` returns its outputs directly. */
export class SyncSession {
  /** The graph's input names. */
  readonly inputNames: readonly string[];
  /** The graph's output names. */
  readonly outputNames: readonly string[];

  private constructor(private native: NativeSession) {
    this.inputNames = native.inputMetadata.map((m) => m.name);
    this.outputNames = native.outputMetadata.map((m) => m.name);
  }

  /**
   * Loads a serialised model.
   * @param model the ONNX bytes
   * @param options onnxruntime session options (threads, optimisation level)
   * @returns the session
   */
  static open(model: Uint8Array, options: ort.InferenceSession.SessionOptions): SyncSession {
    initOrt();
    const Native = (binding as { InferenceSession?: new () => NativeSession }).InferenceSession;
    if (typeof Native !== "function") {
      throw new TypeError("onnxruntime-node's native binding has no InferenceSession");
    }
    const native = new Native();
    native.loadModel(model.buffer, model.byteOffset, model.byteLength, options);
    return new SyncSession(native);
  }

  /**
   * Runs the graph on `feeds` (the graph's inputs only) and returns every output.
   * @param feeds tensors by input name
   * @returns typed arrays and dims by output name
   */
  run(feeds: Record<string, ort.Tensor>): Record<string, SyncOutput> {
    const fetches: Record<string, null> = {};
    for (const name of this.outputNames) fetches[name] = null;
    const raw = this.native.run(feeds, fetches, {});
    const out: Record<string, SyncOutput> = {};
    for (const [name, value] of Object.entries(raw)) {
      out[name] = { type: value.type, data: value.data, dims: [...value.dims] };
    }
    return out;
  }

  /** Frees the native session. */
  dispose(): void {
    this.native.dispose();
  }
}

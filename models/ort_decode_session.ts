/**
 * A {@linkcode DecodeSession} over an ONNX Runtime graph with past keys/values:
 * the host keeps the left-padded mask, position ids and the cache, and hands one
 * step's inputs to a graph adapter. Used by the transformers.js ONNX guide and by
 * our own GPT-2 graphs (models/engine/engine.ts).
 * @module
 */
import type { DecodeSession, SessionSampler, SessionTopK, TokenDraw } from "./decode_session.ts";

/** One cached layer: keys and values [B, nh, P, hs], row-major. */
export interface LayerKV {
  /** Keys [B, nh, P, hs]. */
  k: Float32Array;
  /** Values [B, nh, P, hs]. */
  v: Float32Array;
}

/** What one graph call receives. */
export interface StepInputs {
  /** Batch rows B. */
  rows: number;
  /** New tokens this call [rows * steps]. */
  ids: BigInt64Array;
  /** Their position ids [rows * steps]. */
  positions: BigInt64Array;
  /** The attention mask over past + new tokens [rows * (past + steps)], 1 = real. */
  mask: Uint8Array;
  /** New tokens per row this call: the padded prompt width on prefill, then 1. */
  steps: number;
  /** Positions already in the cache P (0 on prefill). */
  past: number;
  /** One entry per layer, each [rows, nh, past, hs]. */
  cache: LayerKV[];
}

/** One step of a graph's top-k variant: each row's k largest logits, and the grown cache. */
export interface TopKStep {
  /** The values [rows * k], most likely first. */
  values: Float32Array;
  /** Their token ids [rows * k]. */
  indices: BigInt64Array;
  /** One entry per layer. */
  cache: LayerKV[];
}

/** Runs one step of a graph: the last position's logits [rows * vocab] and the grown cache. */
export interface OrtStepGraph {
  /** Transformer blocks, i.e. entries of the cache. */
  readonly nLayer: number;
  /** Attention heads nh per block. */
  readonly nHead: number;
  /** Size hs of one head's keys and values. */
  readonly headDim: number;
  /** Length of each row of logits. */
  readonly vocabSize: number;
  /** The id written at padded prompt positions; the mask hides them. */
  readonly padTokenId: number;
  /** The model's positions: ids past them are clamped (only finished rows get there). */
  readonly maxPositions: number;
  /** Runs the graph on one step's inputs; logits are of the last position only. */
  run(inputs: StepInputs): Promise<{ logits: Float32Array; cache: LayerKV[] }>;
  /**
   * Runs the graph's sampling variant: each row's token drawn from softmax(logits / T) inside
   * the graph (see `DecodeSession.sampler`), if the graph offers one.
   */
  sample?(inputs: StepInputs, draw: TokenDraw): Promise<{ tokens: Int32Array; cache: LayerKV[] }>;
  /** Runs the graph's top-k variant: each row's k largest logits (see `DecodeSession.topKSteps`). */
  topKStep?(inputs: StepInputs, k: number): Promise<TopKStep>;
  /** softmax(logits / temperature) of `rows` rows on the same runtime, if it offers one. */
  probabilities?(logits: Float32Array, rows: number, temperature: number): Promise<Float32Array>;
  /** The k largest logits of each of `rows` rows on the same runtime, if it offers them. */
  topK?(
    logits: Float32Array,
    rows: number,
    k: number,
  ): Promise<{ values: Float32Array; indices: BigInt64Array }>;
}

/** The decode session: see {@linkcode DecodeSession}. */
export class OrtDecodeSession implements DecodeSession {
  readonly vocabSize: number;
  #mask = new Uint8Array(0);
  #positions = new Int32Array(0); // next position per row
  #past = 0;
  #cache: LayerKV[] = [];
  /** See `DecodeSession.probabilities`: the graph's softmax, when it has one. */
  readonly probabilities?: (logits: Float32Array, temperature: number) => Promise<Float32Array>;
  /** See `DecodeSession.topK`: the graph's, when it has one. */
  readonly topK?: (
    logits: Float32Array,
    k: number,
  ) => Promise<{ values: Float32Array; indices: BigInt64Array }>;

  /** See `DecodeSession.sampler`: the graph's sampling variant, when it has one. */
  readonly sampler?: SessionSampler;
  /** See `DecodeSession.topKSteps`: the graph's top-k variant, when it has one. */
  readonly topKSteps?: SessionTopK;

  constructor(private graph: OrtStepGraph, readonly rows: number) {
    this.vocabSize = graph.vocabSize;
    if (graph.probabilities) {
      this.probabilities = (logits, temperature) => graph.probabilities!(logits, rows, temperature);
    }
    const sample = graph.sample?.bind(graph);
    if (sample) {
      this.sampler = {
        prefill: async (prompts, draw) =>
          (await this.#prefill(prompts, (inputs) => sample(inputs, draw))).tokens,
        step: async (tokens, draw) =>
          (await this.#step(tokens, undefined, (inputs) => sample(inputs, draw))).tokens,
      };
    }
    const topK = graph.topKStep?.bind(graph);
    if (topK) {
      this.topKSteps = {
        prefill: (prompts, k) => this.#prefill(prompts, (inputs) => topK(inputs, k)),
        step: (tokens, k) => this.#step(tokens, undefined, (inputs) => topK(inputs, k)),
      };
    }
  }

  async prefill(prompts: number[][]): Promise<Float32Array> {
    return (await this.#prefill(prompts, (inputs) => this.graph.run(inputs))).logits;
  }

  async step(tokens: Int32Array, parents?: Int32Array): Promise<Float32Array> {
    return (await this.#step(tokens, parents, (inputs) => this.graph.run(inputs))).logits;
  }

  async #prefill<R extends { cache: LayerKV[] }>(
    prompts: number[][],
    run: (inputs: StepInputs) => Promise<R>,
  ): Promise<R> {
    const rows = this.rows;
    const perPrompt = rows / prompts.length; // beam search asks for numBeams rows per prompt
    const width = Math.max(1, ...prompts.map((p) => p.length));
    const ids = new BigInt64Array(rows * width);
    const positions = new BigInt64Array(rows * width);
    this.#mask = new Uint8Array(rows * width);
    this.#positions = new Int32Array(rows);
    for (let r = 0; r < rows; r++) {
      const prompt = prompts[Math.floor(r / perPrompt)];
      const pad = width - prompt.length;
      for (let t = 0; t < width; t++) {
        const real = t >= pad;
        ids[r * width + t] = BigInt(real ? prompt[t - pad] : this.graph.padTokenId);
        positions[r * width + t] = BigInt(real ? t - pad : 0);
        this.#mask[r * width + t] = real ? 1 : 0;
      }
      this.#positions[r] = prompt.length;
    }
    const { nLayer } = this.graph;
    const empty = () => ({ k: new Float32Array(0), v: new Float32Array(0) });
    const result = await run({
      rows,
      ids,
      positions,
      mask: this.#mask,
      steps: width,
      past: 0,
      cache: Array.from({ length: nLayer }, empty),
    });
    this.#past = width;
    this.#cache = result.cache;
    return result;
  }

  async #step<R extends { cache: LayerKV[] }>(
    tokens: Int32Array,
    parents: Int32Array | undefined,
    run: (inputs: StepInputs) => Promise<R>,
  ): Promise<R> {
    const rows = this.rows;
    if (parents) this.#reorder(parents);
    const past = this.#past;
    const mask = new Uint8Array(rows * (past + 1));
    for (let r = 0; r < rows; r++) {
      mask.set(this.#mask.subarray(r * past, (r + 1) * past), r * (past + 1));
      mask[r * (past + 1) + past] = 1;
    }
    // A finished row is still fed (its outputs are ignored) and can run past the model's
    // positions when its prompt was long; clamping keeps it a valid lookup.
    const last = this.graph.maxPositions - 1;
    const positions = BigInt64Array.from(this.#positions, (p) => BigInt(Math.min(p, last)));
    const result = await run({
      rows,
      ids: BigInt64Array.from(tokens, (t) => BigInt(t)),
      positions,
      mask,
      steps: 1,
      past,
      cache: this.#cache,
    });
    this.#mask = mask;
    for (let r = 0; r < rows; r++) this.#positions[r]++;
    this.#past = past + 1;
    this.#cache = result.cache;
    return result;
  }

  #reorder(parents: Int32Array): void {
    const rows = this.rows;
    const past = this.#past;
    const rowSize = this.graph.nHead * past * this.graph.headDim;
    const take = (source: Float32Array) => {
      const out = new Float32Array(source.length);
      for (let r = 0; r < rows; r++) {
        out.set(source.subarray(parents[r] * rowSize, (parents[r] + 1) * rowSize), r * rowSize);
      }
      return out;
    };
    this.#cache = this.#cache.map(({ k, v }) => ({ k: take(k), v: take(v) }));
    const mask = new Uint8Array(this.#mask.length);
    const positions = new Int32Array(rows);
    for (let r = 0; r < rows; r++) {
      mask.set(this.#mask.subarray(parents[r] * past, (parents[r] + 1) * past), r * past);
      positions[r] = this.#positions[parents[r]];
    }
    this.#mask = mask;
    this.#positions = positions;
  }

  dispose(): void {
    this.#cache = [];
  }
}

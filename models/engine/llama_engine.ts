/**
 * The Llama family on ONNX Runtime: the graphs of models/engine/llama_graphs.ts fed the
 * current weights of a {@linkcode LlamaLM}. Logits, log-probs of continuations and decoding
 * with a KV cache of the key/value heads (sampling, greedy or beam search through the shared
 * decode session). Rows are left-padded; position ids are cumsum(mask) − 1, and the rotary
 * tables of those positions come from the host.
 * @module
 */
/** @ignore onnxruntime documents its own types; we reference them, not re-export them. */
import * as ort from "onnxruntime-node";
import { generateWithSession } from "../generate.ts";
import type { LlamaLM } from "../llama.ts";
import { type LlamaConfig, ropeInverseFrequencies, ropeTables } from "../llama_config.ts";
import {
  attentionBiasData,
  checkTokenRows,
  leftPad,
  logitsBatch,
  logitsRows,
  positionIds,
} from "../padding.ts";
import {
  type LayerKV,
  OrtDecodeSession,
  type OrtStepGraph,
  type StepInputs,
} from "../ort_decode_session.ts";
import type { GenerateOptions } from "../types.ts";
import { buildLlamaScoreGraph, buildLlamaStepGraph } from "./llama_graphs.ts";
import { OrtSampling } from "./sampling_ops.ts";
import { int64, pick } from "./training.ts";
import { WeightFeeds } from "./weight_feeds.ts";

/** Runs Llama-family forwards for any {@linkcode LlamaLM} of one config on ONNX Runtime. */
export class OnnxLlamaEngine {
  #weights = new WeightFeeds();
  #logits: Promise<ort.InferenceSession> | null = null;
  #sampling: OrtSampling;
  #inverse: Float64Array;
  #disposed = false;

  private constructor(
    readonly config: LlamaConfig,
    private sessions: { step: ort.InferenceSession; score: ort.InferenceSession },
    private options: ort.InferenceSession.SessionOptions,
  ) {
    this.#sampling = new OrtSampling(options);
    this.#inverse = ropeInverseFrequencies(config);
  }

  /** Builds the graphs for `config` and opens their sessions (`threads` intra-op threads). */
  static async create(
    config: LlamaConfig,
    options: { threads?: number } = {},
  ): Promise<OnnxLlamaEngine> {
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: options.threads ?? 2,
      interOpNumThreads: 1,
      graphOptimizationLevel: "all",
      logSeverityLevel: 3,
    };
    const [step, score] = await Promise.all([
      ort.InferenceSession.create(buildLlamaStepGraph(config), sessionOptions),
      ort.InferenceSession.create(buildLlamaScoreGraph(config, { head: "logprobs" }), {
        ...sessionOptions,
        enableCpuMemArena: false,
      }),
    ]);
    return new OnnxLlamaEngine(config, { step, score }, sessionOptions);
  }

  /** Releases every session; the engine cannot be used afterwards. */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    const logits = this.#logits;
    this.#logits = null;
    await Promise.all([
      logits?.then((s) => s.release()),
      this.#sampling.release(),
      this.sessions.step.release(),
      this.sessions.score.release(),
    ]);
  }

  /** Whether a model of `config` runs on this engine's graphs (every field equal). */
  accepts(config: LlamaConfig): boolean {
    return JSON.stringify(config) === JSON.stringify(this.config);
  }

  #feeds(model: LlamaLM): Record<string, ort.Tensor> {
    if (this.#disposed) throw new Error("OnnxLlamaEngine was disposed");
    if (!this.accepts(model.config)) {
      throw new RangeError("OnnxLlamaEngine was built for a different Llama config");
    }
    return this.#weights.of(model.weights, model.weights);
  }

  /** rope_cos / rope_sin feeds [B, T, 1, head_dim] of the positions [B * T]. */
  #rope(positions: ArrayLike<number | bigint>, b: number, t: number): Record<string, ort.Tensor> {
    const { cos, sin } = ropeTables(positions, this.#inverse);
    const dims = [b, t, 1, this.config.headDim];
    return {
      rope_cos: new ort.Tensor("float32", cos, dims),
      rope_sin: new ort.Tensor("float32", sin, dims),
    };
  }

  #checkLength(t: number) {
    if (t > this.config.maxPositionEmbeddings) {
      throw new RangeError(
        `Sequence of ${t} tokens exceeds max_position_embeddings ${this.config.maxPositionEmbeddings}`,
      );
    }
  }

  /**
   * Next-token logits at every position [batch][position][vocab]: ragged rows are left-padded
   * (and only their real positions returned), or rows of one length run with the given mask.
   */
  async logits(
    model: LlamaLM,
    inputIds: number[][],
    attentionMask?: number[][],
  ): Promise<number[][][]> {
    const weights = this.#feeds(model);
    checkTokenRows(inputIds, this.config.vocabSize, "inputIds");
    const rows = inputIds.length;
    if (rows === 0) return [];
    const batch = logitsBatch(inputIds, attentionMask);
    const t = batch.t;
    this.#checkLength(t);
    this.#logits ??= ort.InferenceSession.create(
      buildLlamaScoreGraph(this.config, { head: "logits" }),
      { ...this.options, enableCpuMemArena: false },
    );
    const session = await this.#logits;
    const out = await session.run(pick(session.inputNames, {
      ...weights,
      input_ids: int64(batch.ids, [rows, t]),
      ...this.#rope(positionIds(batch.mask, rows, t), rows, t),
      attn_bias: new ort.Tensor("float32", attentionBiasData(batch.mask, rows, t, t), [
        rows,
        1,
        t,
        t,
      ]),
    }));
    const masked = attentionMask !== undefined;
    return logitsRows(out.logits.data as Float32Array, inputIds, t, this.config.vocabSize, masked);
  }

  /** log π(c_t | prompt, c_<t) of each continuation token (the full softmax). */
  async continuationLogProbs(
    model: LlamaLM,
    prompts: number[][],
    continuations: number[][],
  ): Promise<number[][]> {
    const weights = this.#feeds(model);
    const rows = prompts.length;
    if (rows === 0) return [];
    prompts.forEach((p, r) => {
      if (p.length === 0) {
        throw new RangeError(`Prompt row ${r} is empty; scoring needs at least one prompt token`);
      }
    });
    const full = prompts.map((p, r) => [...p, ...continuations[r]]);
    checkTokenRows(full, this.config.vocabSize, "prompts + continuations");
    const padded = leftPad(full, this.config.padTokenId);
    const width = padded.t;
    this.#checkLength(width);
    const targets = new Float64Array(rows * width);
    for (let i = 0; i + 1 < rows * width; i++) {
      if ((i + 1) % width !== 0) targets[i] = padded.ids[i + 1];
    }
    const session = this.sessions.score;
    const out = await session.run(pick(session.inputNames, {
      ...weights,
      input_ids: int64(padded.ids, [rows, width]),
      ...this.#rope(positionIds(padded.mask, rows, width), rows, width),
      attn_bias: new ort.Tensor(
        "float32",
        attentionBiasData(padded.mask, rows, width, width),
        [rows, 1, width, width],
      ),
      targets: int64(targets, [rows, width]),
    }));
    const logp = out.target_logprobs.data as Float32Array;
    return continuations.map((cont, r) => {
      const first = r * width + width - cont.length - 1; // the position predicting c_0
      return Array.from(logp.subarray(first, first + cont.length));
    });
  }

  /** The step graph bound to `model`'s current weights, as a decode-session graph. */
  stepGraph(model: LlamaLM): OrtStepGraph {
    const weights = this.#feeds(model);
    const { numHiddenLayers, numKeyValueHeads, headDim, vocabSize } = this.config;
    const session = this.sessions.step;
    const sampling = this.#sampling;
    const rope = (positions: BigInt64Array, b: number, t: number) => this.#rope(positions, b, t);
    return {
      nLayer: numHiddenLayers,
      nHead: numKeyValueHeads, // the cache holds the key/value heads
      headDim,
      vocabSize,
      padTokenId: this.config.padTokenId,
      maxPositions: this.config.maxPositionEmbeddings,
      probabilities: (logits, rows, temperature) =>
        sampling.probabilities(logits, rows, temperature),
      topK: (logits, rows, k) => sampling.topK(logits, rows, k),
      async run(inputs: StepInputs): Promise<{ logits: Float32Array; cache: LayerKV[] }> {
        const { rows, steps, past } = inputs;
        const bias = attentionBiasData(inputs.mask, rows, steps, past + steps);
        const feeds: Record<string, ort.Tensor> = {
          ...weights,
          input_ids: new ort.Tensor("int64", inputs.ids, [rows, steps]),
          ...rope(inputs.positions, rows, steps),
          attn_bias: new ort.Tensor("float32", bias, [rows, 1, steps, past + steps]),
        };
        const kv = [rows, numKeyValueHeads, past, headDim];
        inputs.cache.forEach(({ k, v }, l) => {
          feeds[`past_key.${l}`] = new ort.Tensor("float32", k, kv);
          feeds[`past_value.${l}`] = new ort.Tensor("float32", v, kv);
        });
        const out = await session.run(feeds);
        return {
          logits: out.last_logits.data as Float32Array,
          cache: inputs.cache.map((_, l) => ({
            k: out[`present_key.${l}`].data as Float32Array,
            v: out[`present_value.${l}`].data as Float32Array,
          })),
        };
      },
    };
  }

  /** Sampling, greedy or beam-search continuations of `inputIds` (new tokens only). */
  generate(model: LlamaLM, inputIds: number[][], options: GenerateOptions): Promise<number[][]> {
    const graph = this.stepGraph(model);
    return generateWithSession((rows) => new OrtDecodeSession(graph, rows), inputIds, options, {
      eosTokenId: this.config.eosTokenId,
      maxLength: this.config.maxPositionEmbeddings,
    });
  }
}

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
  checkTokenRows,
  type ContinuationBatch,
  continuationBatch,
  logitsBatch,
  logitsRows,
} from "../padding.ts";
import { OrtDecodeSession, type OrtStepGraph } from "../ort_decode_session.ts";
import {
  blockFeeds,
  checkLength,
  continuationSlices,
  type PositionFeeds,
  type PositionLimit,
  samplingVariants,
  scoreLayout,
  stepRunner,
  trainingFeeds,
} from "./causal_runs.ts";
import type { ContinuationOutputs, GenerateOptions, PolicyLM } from "../types.ts";
/** @ignore tfjs documents its own types; we reference them, not re-export them. */
import type * as tf from "@tensorflow/tfjs-core";
import {
  buildLlamaScoreGraph,
  buildLlamaStepGraph,
  buildLlamaTrainingGraphs,
} from "./llama_graphs.ts";
import { EngineSessions } from "./sessions.ts";
import { type TrainingHead, VALUE_HEAD } from "./heads.ts";
import { type EngineTrainer, policyContinuation } from "./tfjs_bridge.ts";
import { pick, type TrainingForward, type ValueHeadVariables } from "./training.ts";
import { WeightFeeds } from "./weight_feeds.ts";
import type { LoraAdapters } from "../lora.ts";
import {
  type LoraGraphSpec,
  loraGraphSpec,
  modelFeeds,
  sameLoraSpec,
  trainedVariables,
} from "./lora_graph.ts";

/** Runs Llama-family forwards for any {@linkcode LlamaLM} of one config on ONNX Runtime. */
export class OnnxLlamaEngine {
  #weights = new WeightFeeds();
  #inverse: Float64Array;
  /** Gradient steps run here always (the training graphs are built on first use). */
  readonly gradients = true;

  private constructor(
    readonly config: LlamaConfig,
    private sessions: EngineSessions<"step" | "score">,
    /** The LoRA adapters its graphs take (a model without adapters runs with zero ones). */
    readonly lora: LoraGraphSpec | null,
  ) {
    this.#inverse = ropeInverseFrequencies(config);
  }

  /**
   * Builds the graphs for `config` (with `lora`, graphs taking those adapters: an adapted
   * model's gradient step trains them alone) and opens their sessions.
   */
  static async create(
    config: LlamaConfig,
    options: { threads?: number; lora?: LoraGraphSpec } = {},
  ): Promise<OnnxLlamaEngine> {
    const lora = options.lora;
    const sessions = await EngineSessions.open("OnnxLlamaEngine", {
      step: { graph: buildLlamaStepGraph(config, lora) },
      score: { graph: buildLlamaScoreGraph(config, { head: "logprobs", lora }), bigBuffers: true },
    }, options.threads);
    return new OnnxLlamaEngine(config, sessions, lora ?? null);
  }

  /** Releases every session; the engine cannot be used afterwards. */
  dispose(): Promise<void> {
    return this.sessions.dispose();
  }

  /**
   * Whether a model of `config` (with these adapters) runs on this engine's graphs: every config
   * field equal; an adapted model needs an engine built for its adapters.
   */
  accepts(config: LlamaConfig, adapters: LoraAdapters | null = null): boolean {
    if (adapters && !(this.lora && sameLoraSpec(this.lora, loraGraphSpec(adapters)))) return false;
    return JSON.stringify(config) === JSON.stringify(this.config);
  }

  #feeds(model: LlamaLM): Record<string, ort.Tensor> {
    this.sessions.alive();
    if (!this.accepts(model.config, model.lora)) {
      throw new RangeError("OnnxLlamaEngine was built for a different Llama config or LoRA");
    }
    return modelFeeds(this.#weights, model, this.lora);
  }

  /** Positions enter as their rotary tables: rope_cos / rope_sin [B, T, 1, head_dim]. */
  #rope: PositionFeeds = (positions, b, t) => {
    const { cos, sin } = ropeTables(positions, this.#inverse);
    const dims = [b, t, 1, this.config.headDim];
    return {
      rope_cos: new ort.Tensor("float32", cos, dims),
      rope_sin: new ort.Tensor("float32", sin, dims),
    };
  };

  get #limit(): PositionLimit {
    return { max: this.config.maxPositionEmbeddings, field: "max_position_embeddings" };
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
    checkLength(t, this.#limit);
    const session = await this.sessions.lazy(
      "logits",
      () => buildLlamaScoreGraph(this.config, { head: "logits", lora: this.lora ?? undefined }),
    );
    const out = await session.run(pick(session.inputNames, {
      ...weights,
      ...blockFeeds(batch.ids, batch.mask, rows, t, this.#rope),
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
    return (await this.score(model, prompts, continuations)).logProbs;
  }

  /**
   * Log-probs of each continuation token and the final hidden states at the positions that
   * predict them ([T_i * hidden] per row: what a critic's head reads).
   */
  async score(
    model: LlamaLM,
    prompts: number[][],
    continuations: number[][],
  ): Promise<{ logProbs: number[][]; hidden: Float32Array[] }> {
    const weights = this.#feeds(model);
    if (prompts.length === 0) return { logProbs: [], hidden: [] };
    const full = prompts.map((p, r) => [...p, ...continuations[r]]);
    checkTokenRows(full, this.config.vocabSize, "prompts + continuations");
    const layout = scoreLayout(
      prompts,
      continuations,
      this.config.padTokenId,
      this.#limit,
      this.#rope,
    );
    const session = this.sessions.fixed.score;
    const out = await session.run(pick(session.inputNames, { ...weights, ...layout.feeds }));
    const rows = (name: string, size = 1) =>
      continuationSlices(out[name].data as Float32Array, continuations, layout.width, size);
    return {
      logProbs: rows("target_logprobs").map((r) => Array.from(r)),
      hidden: rows("hidden", this.config.hiddenSize),
    };
  }

  /** The step graph bound to `model`'s current weights, as a decode-session graph. */
  stepGraph(model: LlamaLM): OrtStepGraph {
    const weights = this.#feeds(model);
    const { numHiddenLayers, numKeyValueHeads, headDim, vocabSize } = this.config;
    const { sampling, fixed } = this.sessions;
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
      run: stepRunner(fixed.step, weights, this.#rope, {
        heads: numKeyValueHeads,
        headDim,
      }),
      ...samplingVariants(
        this.sessions,
        (sample) => buildLlamaStepGraph(this.config, this.lora ?? undefined, { sample }),
        weights,
        this.#rope,
        { heads: numKeyValueHeads, headDim },
      ),
    };
  }

  /**
   * A teacher-forced forward of `batch` (the layout of `continuationBatch`, Tc >= 1) for a
   * gradient step, run synchronously: the hidden states of the predicting positions, with the
   * LM head their log-probs and entropies, with a value head their values, and `backward` to
   * every weight's gradient (the value head's as `v_head.summary.weight` and `.bias`).
   */
  trainingForward(
    model: LlamaLM,
    batch: ContinuationBatch,
    head: TrainingHead,
    valueHead?: ValueHeadVariables,
  ): TrainingForward {
    const weights = this.#feeds(model);
    const lora = this.lora ?? undefined;
    const pair = this.sessions.training(
      head,
      (h) => buildLlamaTrainingGraphs(this.config, { head: h, lora }),
    );
    checkLength(batch.t, this.#limit);
    const feeds = { ...weights, ...trainingFeeds(batch, this.#rope, head === "lm") };
    const shape = { rows: batch.b * batch.tc, width: this.config.hiddenSize };
    const value = valueHead ? { variables: valueHead, weights: this.#weights } : undefined;
    return pair.run(feeds, trainedVariables(model, this.lora), shape, head, value);
  }

  /** The tfjs bridge's view of `model` (and a critic's `valueHead`) on this engine. */
  trainer(model: LlamaLM, valueHead?: ValueHeadVariables): EngineTrainer {
    // an adapted model's gradient step trains its adapters (graph inputs lora_A.*, lora_B.*)
    const weights = new Map(trainedVariables(model));
    if (valueHead) {
      weights.set(VALUE_HEAD.weight, valueHead.weight).set(VALUE_HEAD.bias, valueHead.bias);
    }
    return {
      weights,
      width: this.config.hiddenSize,
      vocabSize: this.config.vocabSize,
      forward: (prompts, continuations, head) =>
        this.trainingForward(model, continuationBatch(prompts, continuations), head, valueHead),
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

/**
 * A Llama-family policy: its weights on tfjs (the optimizer's variables), every forward,
 * backward and decoding step on its engine.
 */
export class OnnxLlamaLM implements PolicyLM {
  /**
   * Pairs the weights with an engine built for their config.
   * @param model the weights (owned)
   * @param engine the engine built for its config (shared)
   */
  constructor(readonly model: LlamaLM, readonly engine: OnnxLlamaEngine) {}

  /** The model's hyperparameters. */
  get config(): LlamaConfig {
    return this.model.config;
  }

  generate(inputIds: number[][], options: GenerateOptions): Promise<number[][]> {
    return this.engine.generate(this.model, inputIds, options);
  }

  /** Next-token logits at every position, as {@linkcode OnnxLlamaEngine.logits}. */
  logits(inputIds: number[][], attentionMask?: number[][]): Promise<number[][][]> {
    return this.engine.logits(this.model, inputIds, attentionMask);
  }

  continuationLogProbs(prompts: number[][], continuations: number[][]): Promise<number[][]> {
    return this.engine.continuationLogProbs(this.model, prompts, continuations);
  }

  forwardContinuation(
    prompts: number[][],
    continuations: number[][],
    options?: { entropy?: boolean },
  ): ContinuationOutputs {
    return policyContinuation(this.engine.trainer(this.model), prompts, continuations, options);
  }

  trainableVariables(): tf.Variable[] {
    return this.model.trainableVariables();
  }

  clone(): OnnxLlamaLM {
    return new OnnxLlamaLM(this.model.clone(), this.engine);
  }

  dispose(): void {
    this.model.dispose();
  }
}

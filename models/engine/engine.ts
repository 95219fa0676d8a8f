/**
 * The ONNX Runtime engine: our GPT-2 graphs (models/engine/gpt2_graphs.ts) on
 * onnxruntime-node, fed the current weights of a tfjs {@linkcode GPT2LM}.
 * Sampling, scoring and (with `gradients`) the forward and backward of a
 * gradient step run here with two threads; the weights and the optimizer stay
 * on tfjs (models/engine/tfjs_bridge.ts connects the two).
 *
 * Weights are graph inputs, fed from host copies (models/engine/weight_feeds.ts).
 * @module
 */
/** @ignore onnxruntime documents its own types; we reference them, not re-export them. */
import * as ort from "onnxruntime-node";
import { generateWithSession } from "../generate.ts";
import { checkTokenRows, type ContinuationBatch, logitsBatch, logitsRows } from "../padding.ts";
import type { GPT2LM } from "../gpt2.ts";
import type { GenerateOptions, GPT2Config } from "../types.ts";
import { OrtDecodeSession, type OrtStepGraph } from "../ort_decode_session.ts";
import {
  blockFeeds,
  checkLength,
  continuationSlices,
  positionIdFeeds,
  type PositionLimit,
  samplingVariants,
  scoreLayout,
  stepRunner,
  trainingFeeds,
} from "./causal_runs.ts";
import { buildScoreGraph, buildStepGraph, buildTrainingGraphs } from "./gpt2_graphs.ts";
import {
  type LoraGraphSpec,
  loraGraphSpec,
  modelFeeds,
  sameLoraSpec,
  trainedVariables,
} from "./lora_graph.ts";
import type { LoraAdapters } from "../lora.ts";
import type { TrainingHead } from "./heads.ts";
import { pick, type TrainingForward, type ValueHeadVariables } from "./training.ts";

export type { TrainingForward } from "./training.ts";
import { WeightFeeds } from "./weight_feeds.ts";
import { EngineSessions } from "./sessions.ts";
import type { TrainingModels } from "../graph/autodiff.ts";

// gelu_new and gelu_pytorch_tanh are the same function, the one our graphs build.
const GELU_TANH = ["gelu_new", "gelu_pytorch_tanh"];

/** A [V, C] weight transposed to [C, V] (the head of the step and score graphs). */
function transpose(weight: ort.Tensor): ort.Tensor {
  const [v, c] = weight.dims as [number, number];
  const data = weight.data as Float32Array;
  const transposed = new Float32Array(v * c);
  for (let i = 0; i < v; i++) {
    for (let j = 0; j < c; j++) transposed[j * v + i] = data[i * c + j];
  }
  return new ort.Tensor("float32", transposed, [c, v]);
}

/** Per-token outputs of {@linkcode OnnxGpt2Engine.score}, one array per row. */
export interface ScoreResult {
  /** log π(c_t | prompt, c_<t) under the full softmax, one entry per continuation token. */
  logProbs: number[][];
  /** Entropy (nats) of the full next-token distribution at each continuation step. */
  entropy: number[][];
  /** Final hidden states (after ln_f) at the positions predicting each token: [T_i * C] per row. */
  hidden: Float32Array[];
}

/** Runs GPT-2 forwards (and backwards) for any {@linkcode GPT2LM} of one config on ONNX Runtime. */
export class OnnxGpt2Engine {
  #weights = new WeightFeeds();

  private constructor(
    readonly config: GPT2Config,
    private sessions: EngineSessions<"step" | "scoreHead" | "scoreTrunk">,
    /** Whether gradient steps run on the engine (else on tfjs). */
    readonly gradients: boolean,
    /** The LoRA adapters its graphs take (a model without adapters runs with zero ones). */
    readonly lora: LoraGraphSpec | null,
  ) {}

  /**
   * Builds the graphs for `config` and opens their sessions (`threads` intra-op
   * threads). With `gradients` (the default), the accelerated models also run
   * their gradient steps here ({@linkcode OnnxGpt2Engine.trainingForward}).
   */
  static async create(
    config: GPT2Config,
    options: { threads?: number; gradients?: boolean; lora?: LoraGraphSpec } = {},
  ): Promise<OnnxGpt2Engine> {
    const lora = options.lora;
    if (!GELU_TANH.includes(config.activationFunction)) {
      throw new RangeError(
        `OnnxGpt2Engine implements gelu_new only; the model uses ${config.activationFunction}`,
      );
    }
    const sessions = await EngineSessions.open("OnnxGpt2Engine", {
      step: { graph: buildStepGraph(config, lora) },
      scoreHead: { graph: buildScoreGraph(config, { head: "logprobs", lora }), bigBuffers: true },
      scoreTrunk: { graph: buildScoreGraph(config, { head: "none", lora }), bigBuffers: true },
    }, options.threads);
    const engine = new OnnxGpt2Engine(config, sessions, options.gradients ?? true, lora ?? null);
    if (engine.gradients) await sessions.openTraining((head) => engine.#trainingGraphs(head));
    return engine;
  }

  /** Releases every ONNX Runtime session; the engine cannot be used afterwards. */
  dispose(): Promise<void> {
    return this.sessions.dispose();
  }

  /**
   * Whether a model of `config` (with these adapters) can run on this engine's graphs: an
   * adapted model needs an engine built for its adapters; a model without runs anywhere.
   */
  accepts(config: GPT2Config, adapters: LoraAdapters | null = null): boolean {
    if (adapters && !(this.lora && sameLoraSpec(this.lora, loraGraphSpec(adapters)))) return false;
    const c = this.config;
    return config.nEmbd === c.nEmbd && config.nLayer === c.nLayer && config.nHead === c.nHead &&
      config.vocabSize === c.vocabSize && config.nPositions === c.nPositions &&
      (config.nInner ?? 4 * config.nEmbd) === (c.nInner ?? 4 * c.nEmbd) &&
      config.layerNormEpsilon === c.layerNormEpsilon && config.eosTokenId === c.eosTokenId &&
      GELU_TANH.includes(config.activationFunction);
  }

  /**
   * The weight feeds of `model`, refreshed where its tfjs data changed.
   * @param model the model whose weights to feed
   * @param transposedHead whether to include `wte_t`, the head pre-transposed for the step and score graphs
   * @returns ONNX tensors by graph input name
   */
  weightFeeds(model: GPT2LM, transposedHead = true): Record<string, ort.Tensor> {
    this.sessions.alive();
    if (!this.accepts(model.config, model.lora)) {
      throw new RangeError("OnnxGpt2Engine was built for a different GPT-2 config or LoRA");
    }
    const feeds = modelFeeds(this.#weights, model, this.lora);
    if (transposedHead) {
      feeds["wte_t"] = this.#weights.derived(
        model.weights,
        "wte_t",
        feeds["wte.weight"],
        transpose,
      );
    }
    return feeds;
  }

  /** The step graph bound to `model`'s current weights, as a decode-session graph. */
  stepGraph(model: GPT2LM): OrtStepGraph {
    const weights = this.weightFeeds(model);
    const { nLayer, nHead, nEmbd, vocabSize, eosTokenId } = this.config;
    const headDim = nEmbd / nHead;
    const { sampling, fixed } = this.sessions;
    return {
      nLayer,
      nHead,
      headDim,
      vocabSize,
      padTokenId: eosTokenId,
      maxPositions: this.config.nPositions,
      probabilities: (logits, rows, temperature) =>
        sampling.probabilities(logits, rows, temperature),
      topK: (logits, rows, k) => sampling.topK(logits, rows, k),
      run: stepRunner(fixed.step, weights, positionIdFeeds, { heads: nHead, headDim }),
      ...samplingVariants(
        this.sessions,
        (sample) => buildStepGraph(this.config, this.lora ?? undefined, { sample }),
        weights,
        positionIdFeeds,
        { heads: nHead, headDim },
      ),
    };
  }

  get #limit(): PositionLimit {
    return { max: this.config.nPositions, field: "nPositions" };
  }

  #trainingGraphs(head: TrainingHead): TrainingModels {
    return buildTrainingGraphs(this.config, { head, lora: this.lora ?? undefined });
  }

  /**
   * A teacher-forced forward of `batch` under `model` for a gradient step, run
   * synchronously (tfjs's tape is synchronous). Returns the final hidden
   * states of the Tc predicting positions, with the LM head their log-probs and
   * entropies, with a value head (`valueHead`: its weight [1, C] and bias [1])
   * their values, and `backward`, which maps the gradients of those outputs to
   * the gradient of every weight (by weight name; the value head's as
   * `v_head.summary.weight` and `.bias`). The activations `backward` needs are
   * held until it runs or the result is dropped.
   * @param model the model (its current weights)
   * @param batch the layout of `continuationBatch` (Tc >= 1)
   * @param head what runs past the trunk
   * @param valueHead the value head's variables, for head "value"
   * @returns the outputs and their backward
   */
  trainingForward(
    model: GPT2LM,
    batch: ContinuationBatch,
    head: TrainingHead,
    valueHead?: ValueHeadVariables,
  ): TrainingForward {
    const pair = this.sessions.training(head, (h) => this.#trainingGraphs(h));
    const feeds = {
      ...this.weightFeeds(model, false),
      ...trainingFeeds(batch, positionIdFeeds, head === "lm"),
    };
    const shape = { rows: batch.b * batch.tc, width: this.config.nEmbd };
    const value = valueHead ? { variables: valueHead, weights: this.#weights } : undefined;
    return pair.run(feeds, trainedVariables(model, this.lora), shape, head, value);
  }

  /**
   * Next-token logits at every position, as `GPT2LM.logits` returns them:
   * ragged rows are left-padded (and only their real positions returned), or
   * equal-length rows run with the given attention mask.
   */
  async logits(
    model: GPT2LM,
    inputIds: number[][],
    attentionMask?: number[][],
  ): Promise<number[][][]> {
    this.sessions.alive();
    checkTokenRows(inputIds, this.config.vocabSize, "inputIds");
    const rows = inputIds.length;
    if (rows === 0) return [];
    const batch = logitsBatch(inputIds, attentionMask);
    const t = batch.t;
    checkLength(t, this.#limit);
    const session = await this.sessions.lazy(
      "logits",
      () => buildScoreGraph(this.config, { head: "logits", lora: this.lora ?? undefined }),
    );
    const out = await session.run(pick(session.inputNames, {
      ...this.weightFeeds(model),
      ...blockFeeds(batch.ids, batch.mask, rows, t, positionIdFeeds),
    }));
    const masked = attentionMask !== undefined;
    return logitsRows(out.logits.data as Float32Array, inputIds, t, this.config.vocabSize, masked);
  }

  /** `model.generate()` run on ONNX Runtime (same sampling code and random draws). */
  generate(model: GPT2LM, inputIds: number[][], options: GenerateOptions): Promise<number[][]> {
    const graph = this.stepGraph(model);
    return generateWithSession((rows) => new OrtDecodeSession(graph, rows), inputIds, options, {
      eosTokenId: model.config.eosTokenId,
      maxLength: model.config.nPositions,
    });
  }

  /**
   * Log-probs, entropies and hidden states of each continuation token under
   * `model`; with `head: false` (critics) hidden states only, the log-probs and
   * entropies then empty.
   */
  async score(
    model: GPT2LM,
    prompts: number[][],
    continuations: number[][],
    options: { head?: boolean } = {},
  ): Promise<ScoreResult> {
    this.sessions.alive();
    const head = options.head ?? true;
    if (prompts.length === 0) return { logProbs: [], entropy: [], hidden: [] };
    const layout = scoreLayout(
      prompts,
      continuations,
      this.config.eosTokenId,
      this.#limit,
      positionIdFeeds,
    );
    const session = head ? this.sessions.fixed.scoreHead : this.sessions.fixed.scoreTrunk;
    const out = await session.run(
      pick(session.inputNames, { ...this.weightFeeds(model, head), ...layout.feeds }),
    );
    const rows = (name: string, size = 1) =>
      continuationSlices(out[name].data as Float32Array, continuations, layout.width, size);
    return {
      logProbs: head ? rows("target_logprobs").map((r) => Array.from(r)) : [],
      entropy: head ? rows("entropy").map((r) => Array.from(r)) : [],
      hidden: rows("hidden", this.config.nEmbd),
    };
  }
}

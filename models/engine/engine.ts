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
import {
  attentionBiasData,
  checkTokenRows,
  type ContinuationBatch,
  leftPad,
  logitsBatch,
  logitsRows,
  positionIds,
} from "../padding.ts";
import type { GPT2LM } from "../gpt2.ts";
import type { GenerateOptions, GPT2Config } from "../types.ts";
import {
  type LayerKV,
  OrtDecodeSession,
  type OrtStepGraph,
  type StepInputs,
} from "../ort_decode_session.ts";
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
import {
  int64,
  pick,
  type TrainingForward,
  TrainingPair,
  type ValueHeadVariables,
} from "./training.ts";

export type { TrainingForward } from "./training.ts";
import { WeightFeeds } from "./weight_feeds.ts";
import { OrtSampling } from "./sampling_ops.ts";

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
  #training = new Map<TrainingHead, TrainingPair>();
  #logits: Promise<ort.InferenceSession> | null = null;
  #sampling: OrtSampling;
  #disposed = false;

  private constructor(
    readonly config: GPT2Config,
    private stepSession: ort.InferenceSession,
    private scoreSessions: { head: ort.InferenceSession; trunk: ort.InferenceSession },
    private trainingOptions: ort.InferenceSession.SessionOptions,
    /** Whether gradient steps run on the engine (else on tfjs). */
    readonly gradients: boolean,
    /** The LoRA adapters its graphs take (a model without adapters runs with zero ones). */
    readonly lora: LoraGraphSpec | null,
  ) {
    this.#sampling = new OrtSampling(trainingOptions);
  }

  /**
   * Builds the graphs for `config` and opens their sessions (`threads` intra-op
   * threads). With `gradients` (the default), the accelerated models also run
   * their gradient steps here ({@linkcode OnnxGpt2Engine.trainingForward}).
   */
  static async create(
    config: GPT2Config,
    options: { threads?: number; gradients?: boolean; lora?: LoraGraphSpec } = {},
  ): Promise<OnnxGpt2Engine> {
    const lora = options.lora ?? null;
    if (!GELU_TANH.includes(config.activationFunction)) {
      throw new RangeError(
        `OnnxGpt2Engine implements gelu_new only; the model uses ${config.activationFunction}`,
      );
    }
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: options.threads ?? 2,
      interOpNumThreads: 1,
      graphOptimizationLevel: "all",
      logSeverityLevel: 3,
    };
    // The arena keeps every buffer a session ever allocated: good for the many small decode
    // steps; the score and training graphs allocate [rows, vocab] buffers, which it would keep
    // (about 0.8 GiB more peak memory at 16 x 128 tokens for 0.05 s less per forward).
    const bigBuffers = { ...sessionOptions, enableCpuMemArena: false };
    const [step, head, trunk] = await Promise.all([
      ort.InferenceSession.create(buildStepGraph(config, options.lora), sessionOptions),
      ort.InferenceSession.create(
        buildScoreGraph(config, { head: "logprobs", lora: options.lora }),
        bigBuffers,
      ),
      ort.InferenceSession.create(
        buildScoreGraph(config, { head: "none", lora: options.lora }),
        bigBuffers,
      ),
    ]);
    const engine = new OnnxGpt2Engine(
      config,
      step,
      { head, trunk },
      bigBuffers,
      options.gradients ?? true,
      lora,
    );
    // open the training graphs now, so a runtime that cannot run them fails here, not mid-run
    try {
      if (engine.gradients) {
        for (const head of ["lm", "value"] as const) engine.#trainingSessions(head);
      }
    } catch (error) {
      await engine.dispose();
      throw error;
    }
    return engine;
  }

  /** Releases every ONNX Runtime session; the engine cannot be used afterwards. */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const pair of this.#training.values()) pair.dispose();
    this.#training.clear();
    const logits = this.#logits;
    this.#logits = null;
    await Promise.all([
      logits?.then((session) => session.release()),
      this.#sampling.release(),
      this.stepSession.release(),
      this.scoreSessions.head.release(),
      this.scoreSessions.trunk.release(),
    ]);
  }

  #alive(): void {
    if (this.#disposed) throw new Error("OnnxGpt2Engine was disposed");
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
    this.#alive();
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
    const session = this.stepSession;
    const sampling = this.#sampling;
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
      async run(inputs: StepInputs): Promise<{ logits: Float32Array; cache: LayerKV[] }> {
        const { rows, steps, past } = inputs;
        const bias = attentionBiasData(inputs.mask, rows, steps, past + steps);
        const feeds: Record<string, ort.Tensor> = {
          ...weights,
          input_ids: new ort.Tensor("int64", inputs.ids, [rows, steps]),
          position_ids: new ort.Tensor("int64", inputs.positions, [rows, steps]),
          attn_bias: new ort.Tensor("float32", bias, [rows, 1, steps, past + steps]),
        };
        inputs.cache.forEach(({ k, v }, l) => {
          feeds[`past_key.${l}`] = new ort.Tensor("float32", k, [rows, nHead, past, headDim]);
          feeds[`past_value.${l}`] = new ort.Tensor("float32", v, [rows, nHead, past, headDim]);
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

  #trainingSessions(head: TrainingHead): TrainingPair {
    let pair = this.#training.get(head);
    if (!pair) {
      pair = TrainingPair.open(
        buildTrainingGraphs(this.config, { head, lora: this.lora ?? undefined }),
        this.trainingOptions,
      );
      this.#training.set(head, pair);
    }
    return pair;
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
    this.#alive();
    const pair = this.#trainingSessions(head);
    const { b, t, p, tc, mask } = batch;
    const m = b * tc;
    // row n·t + (p - 1 + j) of the B·T positions predicts continuation token j of row n
    const predictRows = new Float64Array(m);
    for (let n = 0; n < b; n++) {
      for (let j = 0; j < tc; j++) predictRows[n * tc + j] = n * t + p - 1 + j;
    }
    const feeds: Record<string, ort.Tensor> = {
      ...this.weightFeeds(model, false),
      input_ids: int64(batch.ids, [b, t]),
      position_ids: int64(positionIds(mask, b, t), [b, t]),
      attn_bias: new ort.Tensor("float32", attentionBiasData(mask, b, t, t), [b, 1, t, t]),
      predict_rows: int64(predictRows, [m]),
    };
    if (head === "lm") feeds.targets = int64(batch.targets, [m]);
    const shape = { rows: m, width: this.config.nEmbd };
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
    this.#alive();
    checkTokenRows(inputIds, this.config.vocabSize, "inputIds");
    const rows = inputIds.length;
    if (rows === 0) return [];
    const batch = logitsBatch(inputIds, attentionMask);
    const t = batch.t;
    if (t > this.config.nPositions) {
      throw new RangeError(`Sequence of ${t} tokens exceeds nPositions ${this.config.nPositions}`);
    }
    this.#logits ??= ort.InferenceSession.create(
      buildScoreGraph(this.config, { head: "logits", lora: this.lora ?? undefined }),
      this.trainingOptions,
    );
    const session = await this.#logits;
    const out = await session.run(pick(session.inputNames, {
      ...this.weightFeeds(model),
      input_ids: int64(batch.ids, [rows, t]),
      position_ids: int64(positionIds(batch.mask, rows, t), [rows, t]),
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
    this.#alive();
    const head = options.head ?? true;
    const rows = prompts.length;
    if (rows === 0) return { logProbs: [], entropy: [], hidden: [] };
    prompts.forEach((p, r) => {
      if (p.length === 0) {
        throw new RangeError(`Prompt row ${r} is empty; scoring needs at least one prompt token`);
      }
    });
    const full = prompts.map((p, r) => [...p, ...continuations[r]]);
    const width = Math.max(...full.map((r) => r.length));
    if (width > this.config.nPositions) {
      throw new RangeError(
        `Sequence of ${width} tokens exceeds nPositions ${this.config.nPositions}`,
      );
    }
    const padded = leftPad(full, this.config.eosTokenId);
    const mask = padded.mask;
    const feeds: Record<string, ort.Tensor> = {
      ...this.weightFeeds(model, head),
      input_ids: int64(padded.ids, [rows, width]),
      position_ids: int64(positionIds(mask, rows, width), [rows, width]),
      attn_bias: new ort.Tensor("float32", attentionBiasData(mask, rows, width, width), [
        rows,
        1,
        width,
        width,
      ]),
    };
    if (head) {
      // The target at position t is the token at t + 1 (0 past the end; never read).
      const targets = new Float64Array(rows * width);
      for (let i = 0; i + 1 < rows * width; i++) {
        if ((i + 1) % width !== 0) targets[i] = padded.ids[i + 1];
      }
      feeds.targets = int64(targets, [rows, width]);
    }
    const session = head ? this.scoreSessions.head : this.scoreSessions.trunk;
    const out = await session.run(pick(session.inputNames, feeds));
    const hidden = out.hidden.data as Float32Array;
    const c = this.config.nEmbd;
    const result: ScoreResult = { logProbs: [], entropy: [], hidden: [] };
    continuations.forEach((cont, r) => {
      const first = r * width + width - cont.length - 1; // the position predicting c_0
      if (head) {
        const logp = out.target_logprobs.data as Float32Array;
        const entropy = out.entropy.data as Float32Array;
        result.logProbs.push(Array.from(logp.subarray(first, first + cont.length)));
        result.entropy.push(Array.from(entropy.subarray(first, first + cont.length)));
      }
      result.hidden.push(hidden.slice(first * c, (first + cont.length) * c));
    });
    return result;
  }
}

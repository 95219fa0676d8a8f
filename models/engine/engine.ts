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
/** @ignore tfjs documents its own types; we reference them, not re-export them. */
import type * as tf from "@tensorflow/tfjs-core";
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
import { SyncSession } from "../ort_sync.ts";
import {
  type LayerKV,
  OrtDecodeSession,
  type OrtStepGraph,
  type StepInputs,
} from "../ort_decode_session.ts";
import { buildScoreGraph, buildStepGraph, buildTrainingGraphs } from "./gpt2_graphs.ts";
import { type TrainingHead, VALUE_HEAD } from "./heads.ts";
import { WeightFeeds } from "./weight_feeds.ts";

/** The forward and backward sessions of one training graph pair. */
interface TrainingSessions {
  forward: SyncSession;
  backward: SyncSession;
  saved: string[];
}

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

const int64 = (values: ArrayLike<number>, dims: number[]) =>
  new ort.Tensor("int64", BigInt64Array.from(Array.from(values), BigInt), dims);

/** The feeds a session declares (ONNX Runtime rejects unknown input names). */
function pick(names: readonly string[], feeds: Record<string, ort.Tensor>) {
  const picked: Record<string, ort.Tensor> = {};
  for (const name of names) {
    if (!feeds[name]) throw new Error(`No feed for graph input "${name}"`);
    picked[name] = feeds[name];
  }
  return picked;
}

/** What {@linkcode OnnxGpt2Engine.trainingForward} returns. */
export interface TrainingForward {
  /** [M * C] final hidden states of the M = B·Tc predicting positions. */
  hidden: Float32Array;
  /** [M] log-probs of the targets (with the head). */
  logProbs?: Float32Array;
  /** [M] entropies of the next-token distributions (with the head). */
  entropy?: Float32Array;
  /** [M] values (with a value head). */
  values?: Float32Array;
  /** The weight gradients (by weight name) given the outputs' gradients. */
  backward(grads: {
    hidden: Float32Array;
    logProbs?: Float32Array;
    entropy?: Float32Array;
    values?: Float32Array;
  }): Map<string, Float32Array>;
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
  #training = new Map<TrainingHead, TrainingSessions>();
  #logits: Promise<ort.InferenceSession> | null = null;
  #disposed = false;

  private constructor(
    readonly config: GPT2Config,
    private stepSession: ort.InferenceSession,
    private scoreSessions: { head: ort.InferenceSession; trunk: ort.InferenceSession },
    private trainingOptions: ort.InferenceSession.SessionOptions,
    /** Whether gradient steps run on the engine (else on tfjs). */
    readonly gradients: boolean,
  ) {}

  /**
   * Builds the graphs for `config` and opens their sessions (`threads` intra-op
   * threads). With `gradients` (the default), the accelerated models also run
   * their gradient steps here ({@linkcode OnnxGpt2Engine.trainingForward}).
   */
  static async create(
    config: GPT2Config,
    options: { threads?: number; gradients?: boolean } = {},
  ): Promise<OnnxGpt2Engine> {
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
      ort.InferenceSession.create(buildStepGraph(config), sessionOptions),
      ort.InferenceSession.create(buildScoreGraph(config, { head: "logprobs" }), bigBuffers),
      ort.InferenceSession.create(buildScoreGraph(config, { head: "none" }), bigBuffers),
    ]);
    const engine = new OnnxGpt2Engine(
      config,
      step,
      { head, trunk },
      bigBuffers,
      options.gradients ?? true,
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
    for (const { forward, backward } of this.#training.values()) {
      forward.dispose();
      backward.dispose();
    }
    this.#training.clear();
    const logits = this.#logits;
    this.#logits = null;
    await Promise.all([
      logits?.then((session) => session.release()),
      this.stepSession.release(),
      this.scoreSessions.head.release(),
      this.scoreSessions.trunk.release(),
    ]);
  }

  #alive(): void {
    if (this.#disposed) throw new Error("OnnxGpt2Engine was disposed");
  }

  /** Whether a model of `config` can run on this engine's graphs. */
  accepts(config: GPT2Config): boolean {
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
    if (!this.accepts(model.config)) {
      throw new RangeError("OnnxGpt2Engine was built for a different GPT-2 config");
    }
    const feeds = this.#weights.of(model, model.weights);
    if (transposedHead) {
      feeds["wte_t"] = this.#weights.derived(model, "wte_t", feeds["wte.weight"], transpose);
    }
    return feeds;
  }

  /** The step graph bound to `model`'s current weights, as a decode-session graph. */
  stepGraph(model: GPT2LM): OrtStepGraph {
    const weights = this.weightFeeds(model);
    const { nLayer, nHead, nEmbd, vocabSize, eosTokenId } = this.config;
    const headDim = nEmbd / nHead;
    const session = this.stepSession;
    return {
      nLayer,
      nHead,
      headDim,
      vocabSize,
      padTokenId: eosTokenId,
      maxPositions: this.config.nPositions,
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

  #trainingSessions(head: TrainingHead): TrainingSessions {
    let sessions = this.#training.get(head);
    if (!sessions) {
      const models = buildTrainingGraphs(this.config, { head });
      const forward = SyncSession.open(models.forward, this.trainingOptions);
      let backward: SyncSession;
      try {
        backward = SyncSession.open(models.backward, this.trainingOptions);
      } catch (error) {
        forward.dispose();
        throw error;
      }
      sessions = { forward, backward, saved: models.saved };
      this.#training.set(head, sessions);
    }
    return sessions;
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
    valueHead?: { weight: tf.Variable; bias: tf.Variable },
  ): TrainingForward {
    this.#alive();
    const { forward, backward, saved } = this.#trainingSessions(head);
    const weights = this.weightFeeds(model, false);
    const { b, t, p, tc, mask } = batch;
    const m = b * tc;
    // row n·t + (p - 1 + j) of the B·T positions predicts continuation token j of row n
    const predictRows = new Float64Array(m);
    for (let n = 0; n < b; n++) {
      for (let j = 0; j < tc; j++) predictRows[n * tc + j] = n * t + p - 1 + j;
    }
    const feeds: Record<string, ort.Tensor> = {
      ...weights,
      input_ids: int64(batch.ids, [b, t]),
      position_ids: int64(positionIds(mask, b, t), [b, t]),
      attn_bias: new ort.Tensor("float32", attentionBiasData(mask, b, t, t), [b, 1, t, t]),
      predict_rows: int64(predictRows, [m]),
    };
    if (head === "lm") feeds.targets = int64(batch.targets, [m]);
    const names = [...model.weights.keys()];
    if (head === "value") {
      if (!valueHead) throw new RangeError('trainingForward: head "value" needs the value head');
      const variables = new Map([[VALUE_HEAD.weight, valueHead.weight], [
        VALUE_HEAD.bias,
        valueHead.bias,
      ]]);
      Object.assign(feeds, this.#weights.of(valueHead, variables));
      names.push(VALUE_HEAD.weight, VALUE_HEAD.bias);
    }
    const out = forward.run(pick(forward.inputNames, feeds));
    // the activations the backward reads; released once it ran (no closure keeps `out`)
    let kept: Record<string, ort.Tensor> | null = {};
    for (const name of saved) {
      const { type, data, dims } = out[name];
      kept[name] = new ort.Tensor(type, data as Float32Array, dims);
    }
    const hidden = out.hidden.data as Float32Array;
    const logProbs = out.target_logprobs?.data as Float32Array | undefined;
    const entropy = out.entropy?.data as Float32Array | undefined;
    const values = out.values?.data as Float32Array | undefined;
    const c = this.config.nEmbd;
    return {
      hidden,
      logProbs,
      entropy,
      values,
      backward(grads) {
        if (!kept) throw new Error("This training forward's backward already ran");
        const gradFeeds: Record<string, ort.Tensor> = {
          ...feeds,
          ...kept,
          grad_hidden: new ort.Tensor("float32", grads.hidden, [m, c]),
        };
        if (head === "lm") {
          gradFeeds.grad_logprobs = new ort.Tensor("float32", grads.logProbs!, [m]);
          gradFeeds.grad_entropy = new ort.Tensor("float32", grads.entropy!, [m]);
        } else if (head === "value") {
          gradFeeds.grad_values = new ort.Tensor("float32", grads.values!, [m]);
        }
        kept = null;
        const g = backward.run(pick(backward.inputNames, gradFeeds));
        return new Map(names.map((name) => [name, g[`grad.${name}`].data as Float32Array]));
      },
    };
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
      buildScoreGraph(this.config, { head: "logits" }),
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

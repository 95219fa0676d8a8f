/**
 * T5 on the ONNX Runtime engine: the graphs of models/engine/t5_graphs.ts fed
 * the current weights of a tfjs T5 (any object with its `config` and its
 * `weights` by Hugging Face name). Logits, teacher-forced scoring, decoding
 * with a self-attention KV cache and cross-attention keys/values computed once
 * per prompt, and the forward/backward of a gradient step.
 *
 * Host layout: encoder inputs right-padded with the pad id (T5's positions are
 * relative, so padding only needs its mask); decoder inputs are
 * [decoder_start] + continuation[:-1], right-padded, as Hugging Face builds
 * them from labels.
 * @module
 */
/** @ignore onnxruntime documents its own types; we reference them, not re-export them. */
import * as ort from "onnxruntime-node";
/** @ignore tfjs documents its own types; we reference them, not re-export them. */
import type * as tf from "@tensorflow/tfjs-core";
import type { GenerateOptions } from "../types.ts";
import { attentionBiasData, checkTokenRows, MASKED } from "../padding.ts";
import { positionBuckets, type T5Config } from "../t5_config.ts";
import { generateWithSession } from "../generate.ts";
import type { DecodeSession, SessionSampler, SessionTopK } from "../decode_session.ts";
import type { TrainingForward } from "./training.ts";
import {
  buildT5EncodeGraph,
  buildT5ScoreGraph,
  buildT5StepGraph,
  buildT5TrainingGraphs,
} from "./t5_graphs.ts";
import { WeightFeeds } from "./weight_feeds.ts";
import { EngineSessions } from "./sessions.ts";
import {
  drawFeeds,
  drawnTokens,
  type OrtSampling,
  topKFeeds,
  topKOutputs,
} from "./sampling_ops.ts";
import type { TrainingModels } from "../graph/autodiff.ts";
import type { LoraAdapters } from "../lora.ts";
import {
  type LoraGraphSpec,
  loraGraphSpec,
  modelFeeds,
  sameLoraSpec,
  trainedVariables,
} from "./lora_graph.ts";
import { type TrainingHead, VALUE_HEAD } from "./heads.ts";
import { int64, pick, type ValueHeadVariables } from "./training.ts";
import type { EngineTrainer } from "./tfjs_bridge.ts";

/** What the engine reads of a T5 model: its config, its weights by Hugging Face name, adapters. */
export interface T5Weights {
  /** Hyperparameters. */
  readonly config: T5Config;
  /** Every weight of `t5WeightShapes(config)`, by name (a LoRA view's frozen base). */
  readonly weights: ReadonlyMap<string, tf.Variable>;
  /** LoRA adapters over the weights, if any. */
  readonly lora?: LoraAdapters | null;
}

const float32 = (values: Float32Array, dims: number[]) => new ort.Tensor("float32", values, dims);

/** Rows right-padded with `pad`: ids and mask [b * t]. */
function rightPad(rows: number[][], pad: number, minLength = 1) {
  const b = rows.length;
  const t = Math.max(minLength, ...rows.map((r) => r.length));
  const ids = new Int32Array(b * t).fill(pad);
  const mask = new Uint8Array(b * t);
  rows.forEach((row, i) => {
    ids.set(row, i * t);
    mask.fill(1, i * t, i * t + row.length);
  });
  return { ids, mask, b, t };
}

/** The additive key mask [b, 1, 1, t]: 0 at real tokens, -1e9 at padding. */
function keyBias(mask: Uint8Array): Float32Array {
  return Float32Array.from(mask, (m) => (m ? 0 : MASKED));
}

/** Per-token outputs of {@linkcode OnnxT5Engine.score}, one array per row. */
export interface T5ScoreResult {
  /** log π(c_t | prompt, c_<t) per continuation token. */
  logProbs: number[][];
  /** Entropy (nats) of the next-token distribution at each continuation step. */
  entropy: number[][];
  /** Decoder final states at the position predicting each token: [T_i * d_model] per row. */
  hidden: Float32Array[];
}

/** Runs T5 forwards (and backwards) for any T5 model of one config on ONNX Runtime. */
export class OnnxT5Engine {
  #weights = new WeightFeeds();

  private constructor(
    readonly config: T5Config,
    private sessions: EngineSessions<"encode" | "step" | "score">,
    /** Whether gradient steps run on the engine. */
    readonly gradients: boolean,
    /** The LoRA adapters its graphs take (a model without adapters runs with zero ones). */
    readonly lora: LoraGraphSpec | null,
  ) {}

  /**
   * Builds the graphs for `config` (with `lora`, graphs taking those adapters: an adapted
   * model's gradient step trains them alone) and opens their sessions (training graphs with
   * `gradients`).
   */
  static async create(
    config: T5Config,
    options: { threads?: number; gradients?: boolean; lora?: LoraGraphSpec } = {},
  ): Promise<OnnxT5Engine> {
    const lora = options.lora;
    const sessions = await EngineSessions.open("OnnxT5Engine", {
      encode: { graph: buildT5EncodeGraph(config, lora) },
      step: { graph: buildT5StepGraph(config, lora) },
      score: { graph: buildT5ScoreGraph(config, { head: "logprobs", lora }), bigBuffers: true },
    }, options.threads);
    const engine = new OnnxT5Engine(config, sessions, options.gradients ?? true, lora ?? null);
    if (engine.gradients) await sessions.openTraining((head) => engine.#trainingGraphs(head));
    return engine;
  }

  /** Releases every ONNX Runtime session; the engine cannot be used afterwards. */
  dispose(): Promise<void> {
    return this.sessions.dispose();
  }

  /**
   * Whether a model of `config` (with these adapters) can run on this engine's graphs: every
   * config field equal; an adapted model needs an engine built for its adapters.
   */
  accepts(config: T5Config, adapters: LoraAdapters | null = null): boolean {
    if (adapters && !(this.lora && sameLoraSpec(this.lora, loraGraphSpec(adapters)))) return false;
    const c = this.config;
    return (Object.keys(c) as (keyof T5Config)[]).every((key) => c[key] === config[key]);
  }

  #feeds(model: T5Weights): Record<string, ort.Tensor> {
    this.sessions.alive();
    if (!this.accepts(model.config, model.lora ?? null)) {
      throw new RangeError("OnnxT5Engine was built for a different T5 config or LoRA");
    }
    return modelFeeds(this.#weights, model, this.lora);
  }

  #encoderFeeds(prompts: number[][], attentionMask?: number[][]) {
    checkTokenRows(prompts, this.config.vocabSize, "inputIds");
    const enc = rightPad(prompts, this.config.padTokenId);
    if (attentionMask) {
      const mask = Uint8Array.from(attentionMask.flat());
      if (mask.length !== enc.b * enc.t || prompts.some((r) => r.length !== enc.t)) {
        throw new RangeError(
          "With an attentionMask, inputIds and mask rows must all have one length",
        );
      }
      enc.mask = mask;
    }
    return {
      enc,
      feeds: {
        input_ids: int64(enc.ids, [enc.b, enc.t]),
        encoder_buckets: int64(positionBuckets(enc.t, enc.t, true, this.config), [enc.t, enc.t]),
        encoder_bias: float32(keyBias(enc.mask), [enc.b, 1, 1, enc.t]),
      },
    };
  }

  /** Teacher-forcing decoder feeds: [start] + continuation[:-1], right-padded; targets. */
  #decoderFeeds(continuations: number[][]) {
    checkTokenRows(continuations, this.config.vocabSize, "continuations", true);
    const { padTokenId: pad, decoderStartTokenId: start } = this.config;
    const inputs = continuations.map((c) => [start, ...c.slice(0, Math.max(0, c.length - 1))]);
    const dec = rightPad(inputs, pad);
    const targets = new Int32Array(dec.b * dec.t);
    continuations.forEach((c, i) => targets.set(c, i * dec.t));
    const t = dec.t;
    return {
      dec,
      feeds: {
        decoder_input_ids: int64(dec.ids, [dec.b, t]),
        decoder_buckets: int64(positionBuckets(t, t, false, this.config), [t, t]),
        decoder_bias: float32(attentionBiasData(dec.mask, dec.b, t, t), [dec.b, 1, t, t]),
        targets: int64(targets, [dec.b, t]),
      },
    };
  }

  /**
   * Decoder logits [batch][decoder position][vocab] of `decoderInputIds` given
   * `inputIds`, as Hugging Face's forward returns them: ragged rows are
   * right-padded and only their real positions returned; with masks, rows of
   * one length run as given.
   */
  async logits(
    model: T5Weights,
    inputIds: number[][],
    decoderInputIds: number[][],
    masks: { attentionMask?: number[][]; decoderAttentionMask?: number[][] } = {},
  ): Promise<number[][][]> {
    const weights = this.#feeds(model);
    const { feeds: encoder } = this.#encoderFeeds(inputIds, masks.attentionMask);
    checkTokenRows(decoderInputIds, this.config.vocabSize, "decoderInputIds");
    const dec = rightPad(decoderInputIds, this.config.padTokenId);
    const mask = masks.decoderAttentionMask
      ? Uint8Array.from(masks.decoderAttentionMask.flat())
      : dec.mask;
    const t = dec.t;
    const session = await this.sessions.lazy(
      "logits",
      () => buildT5ScoreGraph(this.config, { head: "logits", lora: this.lora ?? undefined }),
    );
    const out = await session.run(pick(session.inputNames, {
      ...weights,
      ...encoder,
      decoder_input_ids: int64(dec.ids, [dec.b, t]),
      decoder_buckets: int64(positionBuckets(t, t, false, this.config), [t, t]),
      decoder_bias: float32(attentionBiasData(mask, dec.b, t, t), [dec.b, 1, t, t]),
    }));
    const flat = out.logits.data as Float32Array;
    const v = this.config.vocabSize;
    return decoderInputIds.map((row, i) => {
      const n = masks.decoderAttentionMask ? t : row.length;
      return Array.from(
        { length: n },
        (_, j) => Array.from(flat.subarray((i * t + j) * v, (i * t + j + 1) * v)),
      );
    });
  }

  /** Log-probs, entropies and decoder states of each continuation token (decoder outputs). */
  async score(
    model: T5Weights,
    prompts: number[][],
    continuations: number[][],
  ): Promise<T5ScoreResult> {
    const weights = this.#feeds(model);
    if (prompts.length === 0) return { logProbs: [], entropy: [], hidden: [] };
    const { feeds: encoder } = this.#encoderFeeds(prompts);
    const { feeds: decoder, dec } = this.#decoderFeeds(continuations);
    const session = this.sessions.fixed.score;
    const out = await session.run(pick(session.inputNames, { ...weights, ...encoder, ...decoder }));
    const logp = out.target_logprobs.data as Float32Array;
    const entropy = out.entropy.data as Float32Array;
    const states = out.decoder_states.data as Float32Array;
    const d = this.config.dModel;
    const result: T5ScoreResult = { logProbs: [], entropy: [], hidden: [] };
    continuations.forEach((c, i) => {
      const first = i * dec.t;
      result.logProbs.push(Array.from(logp.subarray(first, first + c.length)));
      result.entropy.push(Array.from(entropy.subarray(first, first + c.length)));
      result.hidden.push(states.slice(first * d, (first + c.length) * d));
    });
    return result;
  }

  /**
   * Decoder tokens after the start token (sampling, greedy or beam search, as
   * `generate`); ragged prompts are right-padded, or rows of one length run
   * with `attentionMask`.
   */
  generate(
    model: T5Weights,
    inputIds: number[][],
    options: GenerateOptions & { attentionMask?: number[][] },
  ): Promise<number[][]> {
    const weights = this.#feeds(model);
    const mask = options.attentionMask;
    return generateWithSession(
      (rows) =>
        new T5DecodeSession({
          config: this.config,
          encode: (prompts) => this.#encode(weights, prompts, mask),
          step: (feeds, sample) => this.#step(weights, feeds, sample),
          sampling: this.sessions.sampling,
        }, rows),
      inputIds,
      options,
      { eosTokenId: this.config.eosTokenId, maxLength: Number.POSITIVE_INFINITY, seq2seq: true },
    );
  }

  async #encode(
    weights: Record<string, ort.Tensor>,
    prompts: number[][],
    mask?: number[][],
  ): Promise<Encoded> {
    const { feeds, enc } = this.#encoderFeeds(prompts, mask);
    const session = this.sessions.fixed.encode;
    const out = await session.run(pick(session.inputNames, { ...weights, ...feeds }));
    return { out, enc };
  }

  async #step(
    weights: Record<string, ort.Tensor>,
    feeds: Record<string, ort.Tensor>,
    sample?: "token" | "top-k",
  ): Promise<ort.InferenceSession.OnnxValueMapType> {
    const session = sample
      ? await this.sessions.lazy(
        `step-${sample}`,
        () => buildT5StepGraph(this.config, this.lora ?? undefined, { sample }),
        true,
      )
      : this.sessions.fixed.step;
    return session.run(pick(session.inputNames, { ...weights, ...feeds }));
  }

  #trainingGraphs(head: TrainingHead): TrainingModels {
    return buildT5TrainingGraphs(this.config, { head, lora: this.lora ?? undefined });
  }

  /**
   * A teacher-forced forward for a gradient step, run synchronously (tfjs's
   * tape is synchronous): decoder states of the B·Tc positions (Tc = the
   * longest continuation, >= 1), with the LM head their log-probs and
   * entropies, with a value head (`valueHead`) their values, and `backward`
   * from those outputs' gradients to every weight's gradient (the value head's
   * as `v_head.summary.weight` and `.bias`).
   */
  trainingForward(
    model: T5Weights,
    prompts: number[][],
    continuations: number[][],
    head: TrainingHead,
    valueHead?: ValueHeadVariables,
  ): TrainingForward {
    const weights = this.#feeds(model);
    const pair = this.sessions.training(head, (h) => this.#trainingGraphs(h));
    const { feeds: encoder } = this.#encoderFeeds(prompts);
    const { feeds: decoder, dec } = this.#decoderFeeds(continuations);
    const feeds: Record<string, ort.Tensor> = { ...weights, ...encoder, ...decoder };
    const shape = { rows: dec.b * dec.t, width: this.config.dModel };
    const value = valueHead ? { variables: valueHead, weights: this.#weights } : undefined;
    return pair.run(feeds, trainedVariables(model, this.lora), shape, head, value);
  }

  /** The tfjs bridge's view of `model` (and a critic's `valueHead`) on this engine. */
  trainer(model: T5Weights, valueHead?: { weight: tf.Variable; bias: tf.Variable }): EngineTrainer {
    // an adapted model's gradient step trains its adapters (graph inputs lora_A.*, lora_B.*)
    const weights = new Map(trainedVariables(model));
    if (valueHead) {
      weights.set(VALUE_HEAD.weight, valueHead.weight).set(VALUE_HEAD.bias, valueHead.bias);
    }
    return {
      weights,
      width: this.config.dModel,
      vocabSize: this.config.vocabSize,
      forward: (prompts, continuations, head) =>
        this.trainingForward(model, prompts, continuations, head, valueHead),
    };
  }
}

/** The last position's logits [rows * vocab] of a step graph's outputs. */
function lastLogits(out: ort.InferenceSession.OnnxValueMapType): Float32Array {
  return out.last_logits.data as Float32Array;
}

/** The encoder outputs of a batch of prompts and their right-padded layout. */
interface Encoded {
  out: ort.InferenceSession.OnnxValueMapType;
  enc: { ids: Int32Array; mask: Uint8Array; b: number; t: number };
}

/** What a decode session runs: the encode and step graphs bound to one model's weights. */
interface DecodeGraphs {
  config: T5Config;
  sampling: OrtSampling;
  encode(prompts: number[][]): Promise<Encoded>;
  /** Runs the step graph, or its sampling variant (the feeds then carry its head's inputs). */
  step(
    feeds: Record<string, ort.Tensor>,
    sample?: "token" | "top-k",
  ): Promise<ort.InferenceSession.OnnxValueMapType>;
}

/**
 * A decode session over the T5 step graph: the encoder runs once per prompt
 * (its cross-attention keys and values copied to each of the prompt's rows),
 * then the decoder advances one token per step from the start token.
 */
class T5DecodeSession implements DecodeSession {
  readonly vocabSize: number;
  #past = 0;
  #self: { k: Float32Array; v: Float32Array }[] = [];
  #cross: { k: Float32Array; v: Float32Array }[] = [];
  #crossBias = new Float32Array(0);
  #sourceLength = 0;
  #mask = new Uint8Array(0); // decoder keys so far [rows * past]: 0 at the left padding of prefixes

  /** See `DecodeSession.sampler`: whole-vocabulary sampling in the step graph. */
  readonly sampler: SessionSampler = {
    prefill: async (prompts, draw, prefixes) =>
      drawnTokens(await this.#prefill(prompts, prefixes, drawFeeds(draw, this.rows), "token")),
    step: async (tokens, draw) =>
      drawnTokens(await this.#next(tokens, drawFeeds(draw, this.rows), "token")),
  };

  /** See `DecodeSession.topKSteps`: the k largest logits from the step graph. */
  readonly topKSteps: SessionTopK = {
    prefill: async (prompts, k, prefixes) =>
      topKOutputs(await this.#prefill(prompts, prefixes, topKFeeds(k), "top-k")),
    step: async (tokens, k) => topKOutputs(await this.#next(tokens, topKFeeds(k), "top-k")),
  };

  constructor(private engine: DecodeGraphs, readonly rows: number) {
    this.vocabSize = engine.config.vocabSize;
  }

  async prefill(prompts: number[][], prefixes?: number[][]): Promise<Float32Array> {
    return lastLogits(await this.#prefill(prompts, prefixes));
  }

  async step(tokens: Int32Array, parents?: Int32Array): Promise<Float32Array> {
    if (parents) this.#reorder(parents);
    return lastLogits(await this.#next(tokens));
  }

  #next(tokens: Int32Array, head: Record<string, ort.Tensor> = {}, sample?: "token" | "top-k") {
    return this.#advance(tokens, 1, new Uint8Array(this.rows).fill(1), head, sample);
  }

  async #prefill(
    prompts: number[][],
    prefixes: number[][] | undefined,
    head: Record<string, ort.Tensor> = {},
    sample?: "token" | "top-k",
  ): Promise<ort.InferenceSession.OnnxValueMapType> {
    const { out, enc } = await this.engine.encode(prompts);
    const perPrompt = this.rows / prompts.length; // beam search asks for numBeams rows per prompt
    const { numHeads: h, dKv, numDecoderLayers } = this.engine.config;
    const s = enc.t, block = h * s * dKv;
    const spread = (source: Float32Array) => {
      const rows = new Float32Array(this.rows * block);
      for (let r = 0; r < this.rows; r++) {
        const p = Math.floor(r / perPrompt);
        rows.set(source.subarray(p * block, (p + 1) * block), r * block);
      }
      return rows;
    };
    this.#cross = Array.from({ length: numDecoderLayers }, (_, l) => ({
      k: spread(out[`cross_key.${l}`].data as Float32Array),
      v: spread(out[`cross_value.${l}`].data as Float32Array),
    }));
    const bias = keyBias(enc.mask);
    this.#crossBias = new Float32Array(this.rows * s);
    for (let r = 0; r < this.rows; r++) {
      const p = Math.floor(r / perPrompt);
      this.#crossBias.set(bias.subarray(p * s, (p + 1) * s), r * s);
    }
    this.#sourceLength = s;
    this.#self = Array.from({ length: numDecoderLayers }, () => ({
      k: new Float32Array(0),
      v: new Float32Array(0),
    }));
    this.#past = 0;
    this.#mask = new Uint8Array(0);
    // decoder rows [start, ...prefix], left-padded to one width (T5's positions are relative)
    const start = this.engine.config.decoderStartTokenId;
    const starts = Array.from({ length: this.rows }, (_, r) => [
      start,
      ...(prefixes?.[Math.floor(r / perPrompt)] ?? []),
    ]);
    const width = Math.max(...starts.map((row) => row.length));
    const ids = new Int32Array(this.rows * width).fill(this.engine.config.padTokenId);
    const mask = new Uint8Array(this.rows * width);
    starts.forEach((row, r) => {
      ids.set(row, (r + 1) * width - row.length);
      mask.fill(1, (r + 1) * width - row.length, (r + 1) * width);
    });
    return await this.#advance(ids, width, mask, head, sample);
  }

  probabilities(logits: Float32Array, temperature: number): Promise<Float32Array> {
    return this.engine.sampling.probabilities(logits, this.rows, temperature);
  }

  topK(logits: Float32Array, k: number): Promise<{ values: Float32Array; indices: BigInt64Array }> {
    return this.engine.sampling.topK(logits, this.rows, k);
  }

  /**
   * Feeds `steps` new tokens per row (with their key mask) and returns the step graph's outputs
   * (the last position's logits, or its sampling head's with `sample` and `head`'s feeds).
   */
  async #advance(
    tokens: Int32Array,
    steps: number,
    newMask: Uint8Array,
    head: Record<string, ort.Tensor> = {},
    sample?: "token" | "top-k",
  ): Promise<ort.InferenceSession.OnnxValueMapType> {
    const rows = this.rows, past = this.#past, s = this.#sourceLength;
    const { numHeads: h, dKv } = this.engine.config;
    const keys = past + steps;
    const mask = new Uint8Array(rows * keys);
    for (let r = 0; r < rows; r++) {
      mask.set(this.#mask.subarray(r * past, (r + 1) * past), r * keys);
      mask.set(newMask.subarray(r * steps, (r + 1) * steps), r * keys + past);
    }
    const buckets = positionBuckets(steps, keys, false, this.engine.config, past);
    const feeds: Record<string, ort.Tensor> = {
      ...head,
      decoder_input_ids: int64(tokens, [rows, steps]),
      decoder_buckets: int64(buckets, [steps, keys]),
      decoder_bias: float32(attentionBiasData(mask, rows, steps, keys), [rows, 1, steps, keys]),
      cross_bias: float32(this.#crossBias, [rows, 1, 1, s]),
    };
    this.#self.forEach(({ k, v }, l) => {
      feeds[`past_key.${l}`] = float32(k, [rows, h, past, dKv]);
      feeds[`past_value.${l}`] = float32(v, [rows, h, past, dKv]);
      feeds[`cross_key.${l}`] = float32(this.#cross[l].k, [rows, h, s, dKv]);
      feeds[`cross_value.${l}`] = float32(this.#cross[l].v, [rows, h, s, dKv]);
    });
    const out = await this.engine.step(feeds, sample);
    this.#self = this.#self.map((_, l) => ({
      k: out[`present_key.${l}`].data as Float32Array,
      v: out[`present_value.${l}`].data as Float32Array,
    }));
    this.#past = keys;
    this.#mask = mask;
    return out;
  }

  #reorder(parents: Int32Array): void {
    const take = (source: Float32Array) => {
      const size = source.length / this.rows;
      const out = new Float32Array(source.length);
      parents.forEach((p, r) => out.set(source.subarray(p * size, (p + 1) * size), r * size));
      return out;
    };
    this.#self = this.#self.map(({ k, v }) => ({ k: take(k), v: take(v) }));
    this.#cross = this.#cross.map(({ k, v }) => ({ k: take(k), v: take(v) }));
    this.#crossBias = take(this.#crossBias);
    const past = this.#past, mask = new Uint8Array(this.#mask.length);
    parents.forEach((p, r) => mask.set(this.#mask.subarray(p * past, (p + 1) * past), r * past));
    this.#mask = mask;
  }

  dispose(): void {
    this.#self = [];
    this.#cross = [];
  }
}

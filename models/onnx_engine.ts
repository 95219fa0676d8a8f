/**
 * The optional rollout engine: our GPT-2 graphs (models/onnx_gpt2_graph.ts) on
 * onnxruntime-node, fed the current weights of a tfjs {@linkcode GPT2LM}. All
 * no-grad work of an iteration (roll-in, roll-out, old and reference log-probs)
 * can run here with two threads, while tfjs keeps the gradient step.
 *
 * Weights are graph inputs: the engine copies a variable to the host only when
 * its tfjs data changed (a `Variable.assign` gives it a new dataId), so a frozen
 * reference or guide is copied once and the learner once per update.
 * @module
 */
/** @ignore onnxruntime documents its own types; we reference them, not re-export them. */
import * as ort from "onnxruntime-node";
import { generateWithSession } from "./generate.ts";
import {
  attentionBiasData,
  checkTokenRows,
  type ContinuationBatch,
  continuationBatch,
  leftPad,
  positionIds,
} from "./padding.ts";
import type { GPT2LM } from "./gpt2.ts";
import { buildScoreGraph, buildStepGraph } from "./onnx_gpt2_graph.ts";
import {
  buildTrainBackwardGraph,
  buildTrainForwardGraph,
  savedActivationNames,
} from "./onnx_gpt2_train_graph.ts";
import { SyncSession } from "./ort_sync.ts";
import {
  type LayerKV,
  OrtDecodeSession,
  type OrtStepGraph,
  type StepInputs,
} from "./ort_decode_session.ts";
/** @ignore tfjs documents its own types; we reference them, not re-export them. */
import * as tf from "@tensorflow/tfjs-core";
import type {
  CausalLM,
  ContinuationOutputs,
  GenerateOptions,
  GPT2Config,
  ValueModel,
} from "./types.ts";
import type { GPT2ValueModel } from "./value.ts";

interface CachedWeight {
  dataId: unknown;
  tensor: ort.Tensor;
}

// gelu_new and gelu_pytorch_tanh are the same function, the one our graphs build.
const GELU_TANH = ["gelu_new", "gelu_pytorch_tanh"];

function int64Tensor(values: number[]): ort.Tensor {
  return new ort.Tensor("int64", BigInt64Array.from(values, BigInt), [values.length]);
}

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
  /** The weight gradients (by weight name) given the outputs' gradients. */
  backward(grads: {
    hidden: Float32Array;
    logProbs?: Float32Array;
    entropy?: Float32Array;
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

/** Runs GPT-2 forwards for any {@linkcode GPT2LM} of one config on ONNX Runtime. */
export class OnnxGpt2Engine {
  #weights = new WeakMap<GPT2LM, Map<string, CachedWeight>>();
  #training = new Map<boolean, { forward: SyncSession; backward: SyncSession }>();

  private constructor(
    readonly config: GPT2Config,
    private stepSession: ort.InferenceSession,
    private scoreSession: ort.InferenceSession,
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
      // Both graphs share one list of constants; ORT warns about the ones a graph leaves unused.
      logSeverityLevel: 3,
    };
    // The arena keeps every buffer a session ever allocated: good for the many small decode
    // steps; the score and training graphs allocate [rows, vocab] buffers, which it would keep
    // (about 0.8 GiB more peak memory at 16 x 128 tokens for 0.05 s less per forward).
    const bigBuffers = { ...sessionOptions, enableCpuMemArena: false };
    const [step, score] = await Promise.all([
      ort.InferenceSession.create(buildStepGraph(config), sessionOptions),
      ort.InferenceSession.create(buildScoreGraph(config), bigBuffers),
    ]);
    const engine = new OnnxGpt2Engine(config, step, score, bigBuffers, options.gradients ?? true);
    // open the training graphs now, so a runtime that cannot run them fails here, not mid-run
    if (engine.gradients) { for (const head of [true, false]) engine.#trainingSessions(head); }
    return engine;
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
    if (!this.accepts(model.config)) {
      throw new RangeError("OnnxGpt2Engine was built for a different GPT-2 config");
    }
    let cache = this.#weights.get(model);
    if (!cache) this.#weights.set(model, cache = new Map());
    const feeds: Record<string, ort.Tensor> = {};
    for (const [name, variable] of model.weights) {
      const dataId = (variable as unknown as { dataId: unknown }).dataId;
      let entry = cache.get(name);
      if (!entry || entry.dataId !== dataId) {
        entry = {
          dataId,
          tensor: new ort.Tensor("float32", variable.dataSync() as Float32Array, variable.shape),
        };
        cache.set(name, entry);
        if (name === "wte.weight") cache.delete("wte_t");
      }
      feeds[name] = entry.tensor;
    }
    if (!transposedHead) return feeds;
    if (!cache.has("wte_t")) {
      const wte = feeds["wte.weight"];
      const [v, c] = wte.dims as [number, number];
      const data = wte.data as Float32Array;
      const transposed = new Float32Array(v * c);
      for (let i = 0; i < v; i++) {
        for (let j = 0; j < c; j++) transposed[j * v + i] = data[i * c + j];
      }
      cache.set("wte_t", { dataId: null, tensor: new ort.Tensor("float32", transposed, [c, v]) });
    }
    feeds["wte_t"] = cache.get("wte_t")!.tensor;
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
        const feeds: Record<string, ort.Tensor> = {
          ...weights,
          input_ids: new ort.Tensor("int64", inputs.ids, [rows, steps]),
          position_ids: new ort.Tensor("int64", inputs.positions, [rows, steps]),
          attn_bias: new ort.Tensor(
            "float32",
            attentionBiasData(inputs.mask, rows, steps, past + steps),
            [
              rows,
              1,
              steps,
              past + steps,
            ],
          ),
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

  #trainingSessions(head: boolean): { forward: SyncSession; backward: SyncSession } {
    let sessions = this.#training.get(head);
    if (!sessions) {
      sessions = {
        forward: SyncSession.open(buildTrainForwardGraph(this.config, head), this.trainingOptions),
        backward: SyncSession.open(
          buildTrainBackwardGraph(this.config, head),
          this.trainingOptions,
        ),
      };
      this.#training.set(head, sessions);
    }
    return sessions;
  }

  /**
   * A teacher-forced forward of `batch` under `model` for a gradient step, run
   * synchronously (tfjs's tape is synchronous). Returns the final hidden
   * states of the Tc predicting positions, with the head their log-probs and
   * entropies, and `backward`, which maps the gradients of those outputs to the
   * gradient of every weight of `model` (by weight name). The activations
   * `backward` needs are held until it runs or the result is dropped.
   * @param model the model (its current weights)
   * @param batch the layout of {@linkcode continuationBatch} (Tc >= 1)
   * @param head whether to run the LM head (log-probs and entropies)
   * @returns the outputs and their backward
   */
  trainingForward(model: GPT2LM, batch: ContinuationBatch, head: boolean): TrainingForward {
    const { forward, backward } = this.#trainingSessions(head);
    const weights = this.weightFeeds(model, false);
    const { b, t, p, tc, mask } = batch;
    const { nHead: nh, nEmbd: c } = this.config;
    const positions = positionIds(mask, b, t);
    const shapes = {
      heads_shape: int64Tensor([b, t, nh, c / nh]),
      btc_shape: int64Tensor([b, t, c]),
    };
    const feeds: Record<string, ort.Tensor> = {
      ...shapes,
      input_ids: new ort.Tensor("int64", BigInt64Array.from(batch.ids, BigInt), [b * t]),
      position_ids: new ort.Tensor("int64", BigInt64Array.from(positions, BigInt), [b * t]),
      attn_bias: new ort.Tensor("float32", attentionBiasData(mask, b, t, t), [b, 1, t, t]),
      slice_start: int64Tensor([p - 1]),
      slice_end: int64Tensor([p - 1 + tc]),
    };
    // only the head reads the targets (forward: their log-probs; backward: the one-hot term)
    if (head) {
      feeds.targets = new ort.Tensor("int64", BigInt64Array.from(batch.targets, BigInt), [b * tc]);
    }
    const out = forward.run(pick(forward.inputNames, { ...feeds, ...weights }));
    const saved: Record<string, ort.Tensor> = {};
    for (const name of savedActivationNames(this.config, head)) {
      saved[name] = new ort.Tensor("float32", out[name].data, out[name].dims);
    }
    const config = this.config;
    return {
      hidden: out.hidden.data,
      logProbs: head ? out.target_logprobs.data : undefined,
      entropy: head ? out.entropy.data : undefined,
      backward(grads) {
        const m = b * tc;
        const gradFeeds: Record<string, ort.Tensor> = {
          ...saved,
          ...weights,
          heads_shape: shapes.heads_shape,
          grad_btc_shape: int64Tensor([b, tc, c]),
          unslice_pads: int64Tensor([0, p - 1, 0, 0, t - (p - 1 + tc), 0]),
          grad_hidden: new ort.Tensor("float32", grads.hidden, [m, c]),
        };
        if (head) {
          gradFeeds.targets = feeds.targets;
          gradFeeds.grad_logprobs = new ort.Tensor("float32", grads.logProbs!, [m]);
          gradFeeds.grad_entropy = new ort.Tensor("float32", grads.entropy!, [m]);
        }
        const g = backward.run(pick(backward.inputNames, gradFeeds));
        const result = new Map<string, Float32Array>();
        for (const name of model.weights.keys()) {
          if (name !== "wte.weight" && name !== "wpe.weight") {
            result.set(name, g[`grad.${name}`].data);
          }
        }
        // The embeddings are gathers: their gradient scatter-adds the rows of dL/dx0.
        const wte = head ? g["grad.wte_head"].data : new Float32Array(config.vocabSize * c);
        const wpe = new Float32Array(config.nPositions * c);
        const dx0 = g["grad.x0"].data;
        for (let n = 0; n < b * t; n++) {
          const row = dx0.subarray(n * c, (n + 1) * c);
          const tok = batch.ids[n] * c, pos = positions[n] * c;
          for (let j = 0; j < c; j++) {
            wte[tok + j] += row[j];
            wpe[pos + j] += row[j];
          }
        }
        result.set("wte.weight", wte);
        result.set("wpe.weight", wpe);
        return result;
      },
    };
  }

  /** `model.generate()` run on ONNX Runtime (same sampling code and random draws). */
  generate(model: GPT2LM, inputIds: number[][], options: GenerateOptions): Promise<number[][]> {
    const graph = this.stepGraph(model);
    return generateWithSession((rows) => new OrtDecodeSession(graph, rows), inputIds, options, {
      eosTokenId: model.config.eosTokenId,
      maxLength: model.config.nPositions,
    });
  }

  /** Log-probs, entropies and hidden states of each continuation token under `model`. */
  async score(model: GPT2LM, prompts: number[][], continuations: number[][]): Promise<ScoreResult> {
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
    const ids = BigInt64Array.from(padded.ids, BigInt);
    const positions = BigInt64Array.from(positionIds(mask, rows, width), BigInt);
    // The target at position t is the token at t + 1 (0 past the end; never read).
    const targets = new BigInt64Array(rows * width);
    for (let i = 0; i + 1 < rows * width; i++) if ((i + 1) % width !== 0) targets[i] = ids[i + 1];
    const out = await this.scoreSession.run({
      ...this.weightFeeds(model),
      input_ids: new ort.Tensor("int64", ids, [rows, width]),
      position_ids: new ort.Tensor("int64", positions, [rows, width]),
      attn_bias: new ort.Tensor("float32", attentionBiasData(mask, rows, width, width), [
        rows,
        1,
        width,
        width,
      ]),
      targets: new ort.Tensor("int64", targets, [rows, width]),
    });
    const logp = out.target_logprobs.data as Float32Array;
    const entropy = out.entropy.data as Float32Array;
    const hidden = out.hidden.data as Float32Array;
    const c = this.config.nEmbd;
    const result: ScoreResult = { logProbs: [], entropy: [], hidden: [] };
    continuations.forEach((cont, r) => {
      const first = r * width + width - cont.length - 1; // the position predicting c_0
      result.logProbs.push(Array.from(logp.subarray(first, first + cont.length)));
      result.entropy.push(Array.from(entropy.subarray(first, first + cont.length)));
      result.hidden.push(hidden.slice(first * c, (first + cont.length) * c));
    });
    return result;
  }
}

/** Differentiable outputs of {@linkcode engineContinuation} (tensors the caller owns). */
interface EngineContinuation {
  /** [B, Tc, C] final hidden states at the predicting positions (not zeroed at pads). */
  hidden: tf.Tensor3D;
  /** [B, Tc] log-probs, 0 at pads (with the head). */
  logProbs?: tf.Tensor2D;
  /** [B, Tc] entropies, 0 at pads (with the head). */
  entropy?: tf.Tensor2D;
  /** [B * Tc] 1 where a row has a continuation token. */
  valid: Float32Array;
}

/**
 * The forward of `model` over prompts + continuations on the engine, as one
 * tfjs custom-gradient op over the model's weights: tfjs's tape sees the op's
 * packed output [M, C (+2)] and asks the engine's backward graph for the
 * weight gradients. Call inside a gradient closure or `tf.tidy`.
 */
function engineContinuation(
  engine: OnnxGpt2Engine,
  model: GPT2LM,
  prompts: number[][],
  continuations: number[][],
  head: boolean,
): EngineContinuation {
  if (prompts.length !== continuations.length) {
    throw new RangeError(`${prompts.length} prompts but ${continuations.length} continuations`);
  }
  const { vocabSize, nEmbd: c, nPositions } = model.config;
  checkTokenRows(prompts, vocabSize, "prompts");
  checkTokenRows(continuations, vocabSize, "continuations", true);
  const b = prompts.length;
  const tc = Math.max(0, ...continuations.map((row) => row.length));
  if (b === 0 || tc === 0) {
    const zeros = () => tf.zeros([b, tc]) as tf.Tensor2D;
    return {
      hidden: tf.zeros([b, tc, c]),
      logProbs: head ? zeros() : undefined,
      entropy: head ? zeros() : undefined,
      valid: new Float32Array(b * tc),
    };
  }
  const batch = continuationBatch(prompts, continuations);
  if (batch.t > nPositions) {
    throw new RangeError(`Sequence of ${batch.t} tokens exceeds nPositions ${nPositions}`);
  }
  const names = [...model.weights.keys()];
  const variables = names.map((name) => model.weights.get(name)!);
  const m = b * tc, width = c + (head ? 2 : 0);
  const op = tf.customGrad((..._weights) => {
    const run = engine.trainingForward(model, batch, head);
    const packed = new Float32Array(m * width);
    for (let i = 0; i < m; i++) {
      packed.set(run.hidden.subarray(i * c, (i + 1) * c), i * width);
      if (head) {
        packed[i * width + c] = run.logProbs![i];
        packed[i * width + c + 1] = run.entropy![i];
      }
    }
    return {
      value: tf.tensor2d(packed, [m, width]),
      gradFunc: (dy: tf.Tensor | tf.Tensor[]) => {
        const d = (dy as tf.Tensor).dataSync();
        const grads = {
          hidden: new Float32Array(m * c),
          logProbs: new Float32Array(m),
          entropy: new Float32Array(m),
        };
        for (let i = 0; i < m; i++) {
          grads.hidden.set(d.subarray(i * width, i * width + c), i * c);
          if (head) {
            grads.logProbs[i] = d[i * width + c];
            grads.entropy[i] = d[i * width + c + 1];
          }
        }
        const byName = run.backward(grads);
        return variables.map((v, i) => tf.tensor(byName.get(names[i])!, v.shape));
      },
    };
  });
  const packed = op(...variables) as tf.Tensor2D;
  const out = tf.tidy(() => {
    const valid = tf.tensor2d(batch.valid, [b, tc]);
    const column = (j: number) =>
      tf.mul(tf.reshape(tf.slice(packed, [0, j], [m, 1]), [b, tc]), valid);
    const kept: tf.NamedTensorMap = {
      hidden: tf.reshape(tf.slice(packed, [0, 0], [m, c]), [b, tc, c]),
    };
    if (head) {
      kept.logProbs = column(c);
      kept.entropy = column(c + 1);
    }
    return kept;
  });
  packed.dispose();
  return {
    hidden: out.hidden as tf.Tensor3D,
    logProbs: out.logProbs as tf.Tensor2D | undefined,
    entropy: out.entropy as tf.Tensor2D | undefined,
    valid: batch.valid,
  };
}

/**
 * A {@linkcode CausalLM} whose sampling, scoring and (when the engine has
 * `gradients`) gradient steps run on the engine, with the weights and the
 * optimizer on tfjs: drop-in for the learner, the reference or a guide.
 */
export class OnnxAcceleratedLM implements CausalLM {
  /**
   * Pairs a tfjs model with an engine built for its config.
   *
   * @param model the tfjs model: owns the weights and takes the gradient steps (owned)
   * @param engine the ONNX engine that samples and scores with those weights (shared)
   */
  constructor(readonly model: GPT2LM, readonly engine: OnnxGpt2Engine) {}

  /** The wrapped model's hyperparameters. */
  get config(): GPT2Config {
    return this.model.config;
  }

  generate(inputIds: number[][], options: GenerateOptions): Promise<number[][]> {
    if (!options.doSample && (options.numBeams ?? 1) > 1) {
      return this.model.generate(inputIds, options);
    }
    return this.engine.generate(this.model, inputIds, options);
  }

  async continuationLogProbs(prompts: number[][], continuations: number[][]): Promise<number[][]> {
    return (await this.engine.score(this.model, prompts, continuations)).logProbs;
  }

  logits(inputIds: number[][], attentionMask?: number[][]): Promise<number[][][]> {
    return this.model.logits(inputIds, attentionMask);
  }

  forwardContinuation(
    prompts: number[][],
    continuations: number[][],
    options?: { entropy?: boolean },
  ): ContinuationOutputs {
    if (!this.engine.gradients) {
      return this.model.forwardContinuation(prompts, continuations, options);
    }
    const out = engineContinuation(this.engine, this.model, prompts, continuations, true);
    if (!options?.entropy) out.entropy!.dispose();
    return {
      logProbs: out.logProbs!,
      entropy: options?.entropy ? out.entropy : undefined,
      hidden: out.hidden,
    };
  }

  trainableVariables(): tf.Variable[] {
    return this.model.trainableVariables();
  }

  clone(): OnnxAcceleratedLM {
    return new OnnxAcceleratedLM(this.model.clone(), this.engine);
  }

  dispose(): void {
    this.model.dispose();
  }
}

/**
 * A {@linkcode ValueModel} whose values come from the engine's hidden states and
 * whose differentiable forward runs the trunk on the engine (when it has
 * `gradients`) and the linear head on tfjs.
 */
export class OnnxAcceleratedValueModel implements ValueModel {
  /**
   * Pairs a tfjs value model with an engine built for its trunk's config.
   *
   * @param model the tfjs value model: owns the weights and takes the gradient steps (owned)
   * @param engine the ONNX engine that computes the trunk's hidden states (shared)
   */
  constructor(readonly model: GPT2ValueModel, readonly engine: OnnxGpt2Engine) {}

  async values(prompts: number[][], continuations: number[][]): Promise<number[][]> {
    const { hidden } = await this.engine.score(this.model.trunk, prompts, continuations);
    const w = this.model.weight.dataSync();
    const b = this.model.bias.dataSync()[0];
    const c = w.length;
    return hidden.map((h, r) =>
      continuations[r].map((_, t) => {
        let v = b;
        for (let j = 0; j < c; j++) v += h[t * c + j] * w[j];
        return v;
      })
    );
  }

  forwardValues(prompts: number[][], continuations: number[][]): tf.Tensor2D {
    if (!this.engine.gradients) return this.model.forwardValues(prompts, continuations);
    const out = engineContinuation(this.engine, this.model.trunk, prompts, continuations, false);
    const [b, tc] = out.hidden.shape;
    const values = tf.tidy(() =>
      tf.mul(this.model.valuesFromHidden(out.hidden), tf.tensor2d(out.valid, [b, tc]))
    );
    out.hidden.dispose();
    return values as tf.Tensor2D;
  }

  trainableVariables(): tf.Variable[] {
    return this.model.trainableVariables();
  }

  dispose(): void {
    this.model.dispose();
  }
}

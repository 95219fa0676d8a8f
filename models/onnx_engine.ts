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
import { attentionBiasData, leftPad, positionIds } from "./padding.ts";
import type { GPT2LM } from "./gpt2.ts";
import { buildScoreGraph, buildStepGraph } from "./onnx_gpt2_graph.ts";
import {
  type LayerKV,
  OrtDecodeSession,
  type OrtStepGraph,
  type StepInputs,
} from "./ort_decode_session.ts";
/** @ignore tfjs documents its own types; we reference them, not re-export them. */
import type * as tf from "@tensorflow/tfjs-core";
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

  private constructor(
    readonly config: GPT2Config,
    private stepSession: ort.InferenceSession,
    private scoreSession: ort.InferenceSession,
  ) {}

  /** Builds the graphs for `config` and opens their sessions (`threads` intra-op threads). */
  static async create(
    config: GPT2Config,
    options: { threads?: number } = {},
  ): Promise<OnnxGpt2Engine> {
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: options.threads ?? 2,
      interOpNumThreads: 1,
      graphOptimizationLevel: "all",
      // Both graphs share one list of constants; ORT warns about the ones a graph leaves unused.
      logSeverityLevel: 3,
    };
    const [step, score] = await Promise.all([
      ort.InferenceSession.create(buildStepGraph(config), sessionOptions),
      ort.InferenceSession.create(buildScoreGraph(config), sessionOptions),
    ]);
    return new OnnxGpt2Engine(config, step, score);
  }

  /** Whether a model of `config` can run on this engine's graphs. */
  accepts(config: GPT2Config): boolean {
    const c = this.config;
    return config.nEmbd === c.nEmbd && config.nLayer === c.nLayer && config.nHead === c.nHead &&
      config.vocabSize === c.vocabSize && config.nPositions === c.nPositions &&
      (config.nInner ?? 4 * config.nEmbd) === (c.nInner ?? 4 * c.nEmbd) &&
      config.layerNormEpsilon === c.layerNormEpsilon && config.eosTokenId === c.eosTokenId;
  }

  /** The weight feeds of `model`, refreshed where its tfjs data changed. */
  weightFeeds(model: GPT2LM): Record<string, ort.Tensor> {
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

/**
 * A {@linkcode CausalLM} whose sampling and scoring run on the engine and whose
 * gradient step stays on tfjs: drop-in for the learner, the reference or a guide.
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
    return this.model.forwardContinuation(prompts, continuations, options);
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
 * A {@linkcode ValueModel} whose values (no grad) come from the engine's hidden
 * states and whose differentiable forward stays on tfjs.
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
    return this.model.forwardValues(prompts, continuations);
  }

  trainableVariables(): tf.Variable[] {
    return this.model.trainableVariables();
  }

  dispose(): void {
    this.model.dispose();
  }
}

/**
 * Drop-in models whose no-grad work (sampling, scoring, values) and, when the
 * engine has `gradients`, gradient steps run on the ONNX Runtime engine, while
 * the weights and the optimizer stay on tfjs.
 * @module
 */
/** @ignore tfjs documents its own types; we reference them, not re-export them. */
import type * as tf from "@tensorflow/tfjs-core";
import { GPT2LM } from "../gpt2.ts";
import type { PolicyModel } from "../t5_checkpoint.ts";
import type {
  CausalLM,
  ContinuationOutputs,
  GenerateOptions,
  GPT2Config,
  PolicyLM,
  Seq2SeqLM,
  TokenGenerator,
  ValueModel,
} from "../types.ts";
import type { T5Config } from "../t5_config.ts";
import { T5LM } from "../t5.ts";
import { OnnxT5Engine } from "./t5_engine.ts";
import { LlamaLM } from "../llama.ts";
import { OnnxLlamaEngine, OnnxLlamaLM } from "./llama_engine.ts";
import type { LinearValueModel } from "../value.ts";
import { OnnxGpt2Engine } from "./engine.ts";
import { engineContinuation, gpt2Trainer, policyContinuation } from "./tfjs_bridge.ts";

/** An engine of any family a run opens. */
export type RunEngine = OnnxGpt2Engine | OnnxT5Engine | OnnxLlamaEngine;

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
    return this.engine.logits(this.model, inputIds, attentionMask);
  }

  forwardContinuation(
    prompts: number[][],
    continuations: number[][],
    options?: { entropy?: boolean },
  ): ContinuationOutputs {
    if (!this.engine.gradients) {
      return this.model.forwardContinuation(prompts, continuations, options);
    }
    return policyContinuation(
      gpt2Trainer(this.engine, this.model),
      prompts,
      continuations,
      options,
    );
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
  constructor(
    readonly model: LinearValueModel,
    readonly engine: OnnxGpt2Engine | OnnxT5Engine | OnnxLlamaEngine,
  ) {}

  async values(prompts: number[][], continuations: number[][]): Promise<number[][]> {
    const { engine, model: { trunk } } = this;
    const { hidden } = engine instanceof OnnxT5Engine
      ? await engine.score(trunk as T5LM, prompts, continuations)
      : engine instanceof OnnxLlamaEngine
      ? await engine.score(trunk as LlamaLM, prompts, continuations)
      : await engine.score(trunk as GPT2LM, prompts, continuations, { head: false });
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
    // trunk and value head in one engine graph; its values are 0 at pads already
    const { weight, bias, trunk } = this.model;
    const trainer = this.engine instanceof OnnxT5Engine
      ? this.engine.trainer(trunk as T5LM, { weight, bias })
      : this.engine instanceof OnnxLlamaEngine
      ? this.engine.trainer(trunk as LlamaLM, { weight, bias })
      : gpt2Trainer(this.engine, trunk as GPT2LM, { weight, bias });
    const out = engineContinuation(trainer, prompts, continuations, "value");
    out.hidden.dispose();
    return out.values!;
  }

  trainableVariables(): tf.Variable[] {
    return this.model.trainableVariables();
  }

  dispose(): void {
    this.model.dispose();
  }
}

/**
 * A {@linkcode Seq2SeqLM} (T5) whose decoding, scoring and (when the engine has
 * `gradients`) gradient steps run on the engine, with the weights and the
 * optimizer on tfjs: drop-in for the learner, the reference or a guide.
 */
export class OnnxAcceleratedSeq2SeqLM implements Seq2SeqLM {
  /**
   * Pairs a tfjs T5 with an engine built for its config.
   *
   * @param model the tfjs model: owns the weights and takes the gradient steps (owned)
   * @param engine the ONNX engine that decodes and scores with those weights (shared)
   */
  constructor(readonly model: T5LM, readonly engine: OnnxT5Engine) {}

  /** Output prefixes go to the decoder. */
  readonly seq2seq = true;

  /** The wrapped model's hyperparameters. */
  get config(): T5Config {
    return this.model.config;
  }

  generate(
    inputIds: number[][],
    options: GenerateOptions & { attentionMask?: number[][] },
  ): Promise<number[][]> {
    return this.engine.generate(this.model, inputIds, options);
  }

  logits(
    inputIds: number[][],
    decoderInputIds: number[][],
    options?: { attentionMask?: number[][]; decoderAttentionMask?: number[][] },
  ): Promise<number[][][]> {
    return this.engine.logits(this.model, inputIds, decoderInputIds, options);
  }

  async continuationLogProbs(prompts: number[][], continuations: number[][]): Promise<number[][]> {
    return (await this.engine.score(this.model, prompts, continuations)).logProbs;
  }

  forwardContinuation(
    prompts: number[][],
    continuations: number[][],
    options?: { entropy?: boolean },
  ): ContinuationOutputs {
    if (!this.engine.gradients) {
      return this.model.forwardContinuation(prompts, continuations, options);
    }
    return policyContinuation(this.engine.trainer(this.model), prompts, continuations, options);
  }

  trainableVariables(): tf.Variable[] {
    return this.model.trainableVariables();
  }

  clone(): OnnxAcceleratedSeq2SeqLM {
    return new OnnxAcceleratedSeq2SeqLM(this.model.clone(), this.engine);
  }

  dispose(): void {
    this.model.dispose();
  }
}

/**
 * `model` with its decoding, scoring and gradient steps on `engine` when the
 * engine was built for its family and config (a guide of another shape stays
 * on tfjs); `model` itself otherwise. Null stays null.
 * @param model a GPT-2 or T5 built here, or any other generator (returned as is)
 * @param engine the run's engine, or null
 * @returns the model to hand to the stages
 */
export function onEngine(
  model: GPT2LM,
  engine: RunEngine | null,
): GPT2LM | OnnxAcceleratedLM;
/** A T5 on `engine` when the engine was built for its config; the T5 itself otherwise. */
export function onEngine(
  model: T5LM,
  engine: RunEngine | null,
): T5LM | OnnxAcceleratedSeq2SeqLM;
/**
 * A Llama-family model on `engine`, which must be built for its config (its forward exists on
 * the engine alone).
 */
export function onEngine(model: LlamaLM, engine: RunEngine | null): OnnxLlamaLM;
/** A policy of any family, on `engine` where it fits (a Llama-family model must fit). */
export function onEngine(model: PolicyModel, engine: RunEngine | null): PolicyLM;
/** Any generator: a GPT-2 or T5 built here goes on `engine` when it fits; others as they are. */
export function onEngine<T extends TokenGenerator | LlamaLM | null>(
  model: T,
  engine: RunEngine | null,
): T | OnnxAcceleratedLM | OnnxAcceleratedSeq2SeqLM | OnnxLlamaLM;
export function onEngine<T extends TokenGenerator | LlamaLM | null>(
  model: T,
  engine: RunEngine | null,
): T | OnnxAcceleratedLM | OnnxAcceleratedSeq2SeqLM | OnnxLlamaLM {
  // an adapted model needs an engine built for its adapters
  if (
    engine instanceof OnnxGpt2Engine && model instanceof GPT2LM &&
    engine.accepts(model.config, model.lora)
  ) {
    return new OnnxAcceleratedLM(model, engine);
  }
  if (
    engine instanceof OnnxT5Engine && model instanceof T5LM &&
    engine.accepts(model.config, model.lora)
  ) {
    return new OnnxAcceleratedSeq2SeqLM(model, engine);
  }
  if (model instanceof LlamaLM) {
    if (engine instanceof OnnxLlamaEngine && engine.accepts(model.config, model.lora)) {
      return new OnnxLlamaLM(model, engine);
    }
    throw new RangeError(
      `A ${model.config.modelType} model runs on an OnnxLlamaEngine built for its config ` +
        "(and adapters): open one with openEngine",
    );
  }
  return model;
}

/**
 * One way to open the engine a run asks for, with its fallbacks, for every
 * caller (training, evaluation, cached pretraining, benchmarks).
 * @module
 */
import { ConfigError } from "../../core/errors.ts";
import type { GPT2Config } from "../types.ts";
import type { T5Config } from "../t5_config.ts";
import type { LlamaConfig } from "../llama_config.ts";
import type { LoraGraphSpec } from "./lora_graph.ts";
import { OnnxGpt2Engine } from "./engine.ts";
import { OnnxT5Engine } from "./t5_engine.ts";
import { OnnxLlamaEngine, OnnxLlamaLM } from "./llama_engine.ts";
import { LlamaLM } from "../llama.ts";
import type { PolicyModel } from "../t5_checkpoint.ts";
import type { PolicyLM } from "../types.ts";
import { loraGraphSpec } from "./lora_graph.ts";

/** Where forwards and gradient steps run. */
export type EngineMode = "auto" | "onnx" | "onnx-rollouts" | "tfjs";

/** Options of {@linkcode openEngine}. */
export interface OpenEngineOptions {
  /** Whether the caller takes gradient steps (default true); false opens no training graphs. */
  training?: boolean;
  /** Intra-op threads (default 2). */
  threads?: number;
  /** Where fallback notes go (default: stderr). */
  note?: (message: string) => void;
  /** The LoRA adapters the graphs take (every model on the engine gets them). */
  lora?: LoraGraphSpec;
}

/**
 * The engine for `mode`, or null where the work stays on tfjs: "tfjs" is
 * always null; "onnx" must load (with training graphs when training) or
 * throws; "onnx-rollouts" keeps gradient steps on tfjs and must load; "auto"
 * falls back with a note: gradients on tfjs, then tfjs alone.
 */
export function openEngine(
  config: GPT2Config,
  mode: EngineMode,
  options?: OpenEngineOptions,
): Promise<OnnxGpt2Engine | null>;
/** The T5 engine, with the same modes and fallbacks. */
export function openEngine(
  config: T5Config,
  mode: EngineMode,
  options?: OpenEngineOptions,
): Promise<OnnxT5Engine | null>;
/**
 * The Llama-family engine. Its forwards exist on the engine alone, so every mode but "tfjs"
 * opens it or throws, and "tfjs" is an error naming the `engine` field.
 */
export function openEngine(
  config: LlamaConfig,
  mode: EngineMode,
  options?: OpenEngineOptions,
): Promise<OnnxLlamaEngine>;
/** The engine of any family, by the config's fields. */
export function openEngine(
  config: GPT2Config | T5Config | LlamaConfig,
  mode: EngineMode,
  options?: OpenEngineOptions,
): Promise<OnnxGpt2Engine | OnnxT5Engine | OnnxLlamaEngine | null>;
export async function openEngine(
  config: GPT2Config | T5Config | LlamaConfig,
  mode: EngineMode,
  options: OpenEngineOptions = {},
): Promise<OnnxGpt2Engine | OnnxT5Engine | OnnxLlamaEngine | null> {
  const note = options.note ?? ((message: string) => console.error(message));
  const training = options.training ?? true;
  if ("numKeyValueHeads" in config) {
    if (mode === "tfjs") {
      throw new ConfigError(
        "engine",
        `"tfjs" cannot run a ${config.modelType} model: the Llama family runs on the ONNX ` +
          'Runtime engine alone (use "auto" or "onnx")',
      );
    }
    return await OnnxLlamaEngine.create(config, { threads: options.threads, lora: options.lora });
  }
  const open = (gradients: boolean) =>
    "dModel" in config
      ? OnnxT5Engine.create(config, { gradients, threads: options.threads, lora: options.lora })
      : OnnxGpt2Engine.create(config, { gradients, threads: options.threads, lora: options.lora });
  if (mode === "tfjs") return null;
  if (mode === "onnx-rollouts" || !training) return await open(false).catch(fallback);
  try {
    return await open(true);
  } catch (error) {
    if (mode === "onnx") throw error;
    try {
      const engine = await open(false);
      note(
        `note: ONNX Runtime gradients unavailable (${(error as Error).message}); ` +
          "gradient steps on tfjs",
      );
      return engine;
    } catch {
      return fallback(error);
    }
  }

  function fallback(error: unknown): null {
    if (mode !== "auto") throw error;
    note(`note: ONNX Runtime engine unavailable (${(error as Error).message}); using tfjs`);
    return null;
  }
}

/** A policy usable on its own, with what frees it. */
export interface StandalonePolicy {
  /** The model as a generator, scorer and learner. */
  policy: PolicyLM & { readonly config: GPT2Config | T5Config | LlamaConfig };
  /** Frees the model and the engine opened for it. */
  dispose(): void;
}

/**
 * A loaded policy as a generator on its own: a Llama-family model on an engine opened for it
 * (its forward exists there alone), GPT-2 and T5 as they are (tfjs; a run puts them on its
 * engine with onEngine).
 * @param model the policy (owned by the result)
 * @param threads the engine's intra-op threads (default 2)
 * @returns the generator and its release
 */
export async function standalonePolicy(
  model: PolicyModel,
  threads?: number,
): Promise<StandalonePolicy> {
  if (!(model instanceof LlamaLM)) return { policy: model, dispose: () => model.dispose() };
  const engine = await OnnxLlamaEngine.create(model.config, {
    threads,
    ...(model.lora ? { lora: loraGraphSpec(model.lora) } : {}),
  });
  return {
    policy: new OnnxLlamaLM(model, engine),
    dispose() {
      model.dispose();
      void engine.dispose();
    },
  };
}

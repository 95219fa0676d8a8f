/**
 * One way to open the engine a run asks for, with its fallbacks, for every
 * caller (training, evaluation, cached pretraining, benchmarks).
 * @module
 */
import type { GPT2Config } from "../types.ts";
import type { T5Config } from "../t5_config.ts";
import type { LoraGraphSpec } from "./lora_graph.ts";
import { OnnxGpt2Engine } from "./engine.ts";
import { OnnxT5Engine } from "./t5_engine.ts";

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
/** The engine of either family, by the config's fields. */
export function openEngine(
  config: GPT2Config | T5Config,
  mode: EngineMode,
  options?: OpenEngineOptions,
): Promise<OnnxGpt2Engine | OnnxT5Engine | null>;
export async function openEngine(
  config: GPT2Config | T5Config,
  mode: EngineMode,
  options: OpenEngineOptions = {},
): Promise<OnnxGpt2Engine | OnnxT5Engine | null> {
  const note = options.note ?? ((message: string) => console.error(message));
  const training = options.training ?? true;
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

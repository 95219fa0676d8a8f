/**
 * The models one server answers for: its base model and, with LoRA serving on, the adapters
 * loaded into it at run time (vLLM's `POST /v1/load_lora_adapter` and `/v1/unload_lora_adapter`),
 * each its own {@linkcode CompletionService} (its own batches) over the shared frozen base.
 * @module
 */
import { InputError } from "../core/errors.ts";
import { type EngineMode, loraGraphSpec, onEngine, openEngine } from "../models/engine/mod.ts";
import type { OnnxGpt2Engine } from "../models/engine/engine.ts";
import { type GPT2LM, gpt2WeightShapes } from "../models/gpt2.ts";
import { loadLoraAdapters } from "../models/lora.ts";
import type { CausalLM } from "../models/types.ts";
import { ApiError } from "./requests.ts";
import {
  CompletionService,
  type CompletionServiceOptions,
  contextLengthOf,
  type ServiceStats,
} from "./service.ts";

/** Loads and unloads LoRA adapters by name (the two vLLM routes). */
export interface LoraRoutes {
  /** Loads the PEFT adapter folder `path` as model `name`. */
  load(name: string, path: string): Promise<void>;
  /** Unloads adapter `name`. */
  unload(name: string): Promise<void>;
}

/** The services of a server, by model name. */
export class ModelRegistry {
  readonly #services = new Map<string, CompletionService>();
  /** The LoRA routes, when the server serves adapters. */
  lora?: LoraRoutes;

  /**
   * A registry of these services.
   * @param services the models served from the start
   */
  constructor(services: CompletionService[] = []) {
    for (const s of services) this.add(s);
  }

  /** The service of model `name`, if served. */
  get(name: string): CompletionService | undefined {
    return this.#services.get(name);
  }

  /** Every service. */
  all(): CompletionService[] {
    return [...this.#services.values()];
  }

  /** Serves `service` under its model name. */
  add(service: CompletionService): void {
    this.#services.set(service.modelName, service);
  }

  /** Stops serving model `name`; returns its service. */
  remove(name: string): CompletionService | undefined {
    const service = this.#services.get(name);
    this.#services.delete(name);
    return service;
  }

  /** The counts of every service served now, summed (an unloaded adapter's go with it). */
  stats(): ServiceStats {
    const all = this.all().map((s) => s.stats());
    const sum = (key: keyof ServiceStats) => all.reduce((n, st) => n + st[key], 0);
    const batches = sum("batches"), rows = sum("rows");
    return {
      requests: sum("requests"),
      promptTokens: sum("promptTokens"),
      completionTokens: sum("completionTokens"),
      batches,
      rows,
      meanBatchRows: batches > 0 ? rows / batches : 0,
      refused: sum("refused"),
    };
  }

  /** Finishes every service's queued work. */
  async close(): Promise<void> {
    await Promise.all(this.all().map((s) => s.close()));
  }
}

/** Options of {@linkcode serveLoraAdapters}. */
export interface LoraServingOptions {
  /** Where adapted models run: their own engine per adapter shape, or tfjs. */
  engine: EngineMode;
  /** The service options of every adapter (batching, seed, limits). */
  service?: CompletionServiceOptions;
  /** At most this many adapters loaded at once. @default 8 */
  maxAdapters?: number;
}

/**
 * Turns on LoRA serving for a GPT-2 base in `registry`: `load` reads a PEFT adapter folder (its
 * layers must fit the base), builds an engine for its shape (once per shape) and serves
 * `base + adapter` under the given name.
 * @param registry the server's models
 * @param base the frozen base (shared by every adapter)
 * @param options engine mode, service options, adapter limit
 * @returns what to free at the end (the adapted models and their engines)
 */
export function serveLoraAdapters(
  registry: ModelRegistry,
  base: GPT2LM,
  options: LoraServingOptions,
): { dispose(): Promise<void> } {
  const adapted = new Map<string, GPT2LM>();
  const engines = new Map<string, Promise<OnnxGpt2Engine | null>>();
  const tokenizer = base.tokenizer;
  if (!tokenizer) throw new InputError("LoRA serving needs the base model's tokenizer");
  registry.lora = {
    async load(name, path) {
      if (registry.get(name)) {
        throw new ApiError(400, `The lora adapter '${name}' has already been loaded.`, "lora_name");
      }
      if (adapted.size >= (options.maxAdapters ?? 8)) {
        throw new ApiError(
          400,
          `At most ${options.maxAdapters ?? 8} adapters are loaded at once; unload one first`,
          "lora_name",
        );
      }
      let adapters;
      try {
        ({ adapters } = await loadLoraAdapters(path, gpt2WeightShapes(base.config)));
      } catch (error) {
        if (error instanceof InputError) throw new ApiError(400, error.message, "lora_path");
        throw error;
      }
      const spec = loraGraphSpec(adapters);
      const key = JSON.stringify([spec.r, spec.scale, [...spec.paths].sort()]);
      if (!engines.has(key)) {
        engines.set(
          key,
          openEngine(base.config, options.engine, { training: false, lora: spec, note: () => {} }),
        );
      }
      const model = base.withLora(adapters);
      adapted.set(name, model);
      const fast = onEngine(model, await engines.get(key)!) as CausalLM;
      registry.add(
        new CompletionService({
          name,
          model: fast,
          tokenizer,
          contextLength: contextLengthOf(fast),
        }, options.service),
      );
    },
    async unload(name) {
      const model = adapted.get(name);
      if (!model) {
        throw new ApiError(404, `The lora adapter '${name}' cannot be found.`, "lora_name");
      }
      await registry.remove(name)?.close();
      adapted.delete(name);
      model.dispose();
    },
  };
  return {
    async dispose() {
      for (const [name, model] of adapted) {
        await registry.remove(name)?.close();
        model.dispose();
      }
      adapted.clear();
      for (const engine of engines.values()) await (await engine)?.dispose();
    },
  };
}

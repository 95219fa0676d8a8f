/**
 * LoRA adapters (Hu et al. 2021) as PEFT defines them: a frozen layer y = f(x; W) gains a
 * low-rank update, y + s·(x·Aᵀ)·Bᵀ with A [r, in], B [out, r] and s = alpha / r (alpha / √r
 * with rsLoRA). A starts Kaiming-uniform and B at zero, so an adapted model starts as its base.
 * GPT-2's Conv1D layers store W as [in, out] (PEFT's `fan_in_fan_out`), T5's nn.Linear layers
 * as [out, in]: a {@linkcode LoraLayout} says which, and which modules take adapters. Files are
 * PEFT's: `adapter_config.json` and `adapter_model.safetensors` with keys
 * `base_model.model.transformer.<module>.lora_A.weight` (GPT-2) or
 * `base_model.model.<module>.lora_A.weight` (T5).
 * @module
 */
/** @ignore tfjs documents its own types; we reference them, not re-export them. */
import * as tf from "@tensorflow/tfjs-core";
import { writeJsonAtomic } from "../core/atomic.ts";
import { ConfigError, InputError } from "../core/errors.ts";
import type { Rng } from "../core/prng.ts";
import { type HostTensor, readSafetensors, writeSafetensors } from "./safetensors.ts";

/** What to adapt and how (PEFT's `LoraConfig` fields). */
export interface LoraConfig {
  /** The rank. */
  r: number;
  /** The scale's numerator (`lora_alpha`). */
  alpha: number;
  /** Dropout on the adapter's input; only 0 is supported (a noisy PPO ratio otherwise). */
  dropout: number;
  /**
   * Module names, matched as PEFT matches them: a module whose path equals a name or ends with
   * "." + the name (GPT-2: "c_attn", "c_proj" (attention and MLP), "c_fc", "mlp.c_proj",
   * "attn.c_proj"; T5: "q", "k", "v", "o", "wi" or "wi_0"/"wi_1", "wo",
   * "EncDecAttention.q", ...).
   */
  targetModules: string[];
  /** Scale by alpha / √r instead of alpha / r (rsLoRA). @default false */
  useRslora?: boolean;
}

/** How an architecture's layers take adapters, and how PEFT names and stores them. */
export interface LoraLayout {
  /** The architecture, in messages. */
  architecture: string;
  /** Module paths (checkpoint names without `.weight`) that can carry an adapter. */
  adaptable: RegExp;
  /** The adaptable module names, in messages. */
  moduleNames: string;
  /** PEFT's targets when none are given (its per-architecture defaults). */
  defaultTargets: readonly string[];
  /** W is stored [in, out] (GPT-2's Conv1D; PEFT's `fan_in_fan_out`), else [out, in]. */
  fanInFanOut: boolean;
  /** What precedes a module path in PEFT's tensor keys. */
  peftPrefix: string;
  /** PEFT's `task_type`. */
  taskType: "CAUSAL_LM" | "SEQ_2_SEQ_LM";
}

/** GPT-2: Conv1D layers c_attn, c_proj (attention and MLP), c_fc. */
export const GPT2_LORA_LAYOUT: Readonly<LoraLayout> = Object.freeze({
  architecture: "GPT-2",
  adaptable: /\.(c_attn|c_proj|c_fc)$/,
  moduleNames: "c_attn, c_proj, c_fc",
  defaultTargets: ["c_attn"],
  fanInFanOut: true,
  peftPrefix: "base_model.model.transformer.",
  taskType: "CAUSAL_LM",
});

/** T5: the nn.Linear layers of attention (q, k, v, o) and of the MLP (wi or wi_0/wi_1, wo). */
export const T5_LORA_LAYOUT: Readonly<LoraLayout> = Object.freeze({
  architecture: "T5",
  adaptable: /\.(SelfAttention|EncDecAttention)\.[qkvo]$|\.DenseReluDense\.(wi|wi_0|wi_1|wo)$/,
  moduleNames: "q, k, v, o, wi (wi_0, wi_1), wo",
  defaultTargets: ["q", "v"],
  fanInFanOut: false,
  peftPrefix: "base_model.model.",
  taskType: "SEQ_2_SEQ_LM",
});

/** Every linear layer of a Llama-family block, PEFT's target names (TRL's "all-linear" but the head). */
export const LLAMA_PROJECTIONS: readonly string[] = Object.freeze([
  "q_proj",
  "k_proj",
  "v_proj",
  "o_proj",
  "gate_proj",
  "up_proj",
  "down_proj",
]);

/** The Llama family: the nn.Linear projections of attention and of the SwiGLU MLP. */
export const LLAMA_LORA_LAYOUT: Readonly<LoraLayout> = Object.freeze({
  architecture: "Llama",
  adaptable: /\.self_attn\.(q|k|v|o)_proj$|\.mlp\.(gate|up|down)_proj$/,
  moduleNames: LLAMA_PROJECTIONS.join(", "),
  defaultTargets: ["q_proj", "v_proj"],
  fanInFanOut: false,
  peftPrefix: "base_model.model.",
  taskType: "CAUSAL_LM",
});

/** A layer's [in, out] features from its stored weight shape. */
function features(shape: readonly number[], layout: LoraLayout): [number, number] {
  return layout.fanInFanOut ? [shape[0], shape[1]] : [shape[1], shape[0]];
}

/** The scale s of a config. */
export function loraScale(config: LoraConfig): number {
  return config.useRslora ? config.alpha / Math.sqrt(config.r) : config.alpha / config.r;
}

/**
 * Checks a LoRA config.
 * @param config the config
 * @param field the config path named in errors
 * @returns the config
 * @throws {ConfigError} naming the bad field
 */
export function checkLoraConfig(config: LoraConfig, field = "lora"): LoraConfig {
  if (!Number.isInteger(config.r) || config.r < 1) {
    throw new ConfigError(`${field}.r`, `must be a positive integer, got ${config.r}`);
  }
  if (!(typeof config.alpha === "number" && config.alpha > 0)) {
    throw new ConfigError(`${field}.alpha`, `must be a positive number, got ${config.alpha}`);
  }
  if (config.dropout !== 0) {
    throw new ConfigError(
      `${field}.dropout`,
      `only 0 is supported (dropout would make the PPO ratio of old and new log-probs noisy), got ${config.dropout}`,
    );
  }
  if (!Array.isArray(config.targetModules) || config.targetModules.length === 0) {
    throw new ConfigError(`${field}.targetModules`, "must list at least one module name");
  }
  return config;
}

/** Whether a module path is targeted (PEFT: equal, or ends with "." + target). */
export function isTargeted(path: string, targets: readonly string[]): boolean {
  return targets.some((t) => path === t || path.endsWith(`.${t}`));
}

/** One adapted layer: A [r, in], B [out, r]. */
export interface LoraPair {
  /** [r, in]. */
  a: tf.Variable;
  /** [out, r]. */
  b: tf.Variable;
}

/** The adapters of one model, by module path (`h.0.attn.c_attn`). */
export class LoraAdapters {
  /** The config they were made with. */
  readonly config: LoraConfig;
  /** The architecture's layout (how the layers store W, PEFT's names). */
  readonly layout: LoraLayout;
  /** The scale s applied to every update. */
  readonly scale: number;
  /** Adapters by module path. */
  readonly pairs: Map<string, LoraPair>;

  /**
   * Wraps adapter variables.
   * @param config their config
   * @param pairs A and B by module path (owned from now on)
   * @param layout the architecture's layout
   */
  constructor(
    config: LoraConfig,
    pairs: Map<string, LoraPair>,
    layout: LoraLayout = GPT2_LORA_LAYOUT,
  ) {
    this.config = config;
    this.layout = layout;
    this.scale = loraScale(config);
    this.pairs = pairs;
  }

  /**
   * s·(x·Aᵀ)·Bᵀ for the module, or null when it has no adapter.
   * @param path the module path
   * @param x [N, in]
   * @returns [N, out] or null
   */
  delta(path: string, x: tf.Tensor2D): tf.Tensor2D | null {
    const pair = this.pairs.get(path);
    if (!pair) return null;
    const down = tf.matMul(x, pair.a as unknown as tf.Tensor2D, false, true); // (N, r)
    return tf.mul(tf.matMul(down, pair.b as unknown as tf.Tensor2D, false, true), this.scale);
  }

  /** Every A and B (what trains). */
  variables(): tf.Variable[] {
    return [...this.pairs.values()].flatMap((p) => [p.a, p.b]);
  }

  /** A deep copy. */
  clone(): LoraAdapters {
    const copy = new Map<string, LoraPair>();
    for (const [path, p] of this.pairs) {
      copy.set(path, { a: variableOf(p.a.clone()), b: variableOf(p.b.clone()) });
    }
    return new LoraAdapters(this.config, copy, this.layout);
  }

  /** Frees the adapters. */
  dispose(): void {
    for (const v of this.variables()) v.dispose();
  }

  /** A and B on the host, by module path. */
  async toHost(): Promise<Map<string, { a: HostTensor; b: HostTensor }>> {
    const out = new Map<string, { a: HostTensor; b: HostTensor }>();
    for (const [path, p] of this.pairs) {
      out.set(path, {
        a: { shape: [...p.a.shape], data: await p.a.data<"float32">() },
        b: { shape: [...p.b.shape], data: await p.b.data<"float32">() },
      });
    }
    return out;
  }
}

/**
 * Fresh adapters for every targeted layer among `weightShapes` (PEFT's initialisation:
 * A ~ U(−1/√in, 1/√in), Kaiming-uniform with a = √5; B = 0).
 * @param weightShapes the base model's weight shapes by name (`h.0.attn.c_attn.weight` [in, out])
 * @param config rank, scale and targets
 * @param rng A's stream (each module from a named child)
 * @param layout the architecture's layout
 * @returns the adapters
 * @throws {ConfigError} when no module matches the targets
 */
export function createLoraAdapters(
  weightShapes: ReadonlyMap<string, number[]>,
  config: LoraConfig,
  rng: Rng,
  layout: LoraLayout = GPT2_LORA_LAYOUT,
): LoraAdapters {
  checkLoraConfig(config);
  const pairs = new Map<string, LoraPair>();
  for (const [name, shape] of weightShapes) {
    if (!name.endsWith(".weight") || shape.length !== 2) continue;
    const path = name.slice(0, -".weight".length);
    if (!layout.adaptable.test(path) || !isTargeted(path, config.targetModules)) continue;
    const [inFeatures, outFeatures] = features(shape, layout);
    const bound = 1 / Math.sqrt(inFeatures);
    const stream = rng.child(path);
    const a = new Float32Array(config.r * inFeatures).map(() => (2 * stream.random() - 1) * bound);
    pairs.set(path, {
      a: variableOf(tf.tensor2d(a, [config.r, inFeatures])),
      b: variableOf(tf.zeros([outFeatures, config.r])),
    });
  }
  if (pairs.size === 0) {
    throw new ConfigError(
      "lora.targetModules",
      `${
        JSON.stringify(config.targetModules)
      } match no layer; ${layout.architecture}'s are ${layout.moduleNames}`,
    );
  }
  return new LoraAdapters(config, pairs, layout);
}

/** A trainable variable holding `value` (which is freed: the variable keeps its own copy). */
function variableOf(value: tf.Tensor): tf.Variable {
  const v = tf.variable(value, true);
  value.dispose();
  return v;
}

/**
 * Writes adapters as PEFT does: `adapter_config.json` and `adapter_model.safetensors`.
 * @param adapters the adapters
 * @param dir the folder (created if missing)
 * @param baseModel `base_model_name_or_path`: an absolute folder or a hub id
 */
export async function saveLoraAdapters(
  adapters: LoraAdapters,
  dir: string,
  baseModel: string,
): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const tensors = new Map<string, HostTensor>();
  const { peftPrefix, taskType, fanInFanOut } = adapters.layout;
  for (const [path, { a, b }] of await adapters.toHost()) {
    tensors.set(`${peftPrefix}${path}.lora_A.weight`, a);
    tensors.set(`${peftPrefix}${path}.lora_B.weight`, b);
  }
  await writeSafetensors(`${dir}/adapter_model.safetensors`, tensors, { format: "pt" });
  const c = adapters.config;
  await writeJsonAtomic(`${dir}/adapter_config.json`, {
    peft_type: "LORA",
    task_type: taskType,
    base_model_name_or_path: baseModel,
    r: c.r,
    lora_alpha: c.alpha,
    lora_dropout: c.dropout,
    target_modules: c.targetModules,
    fan_in_fan_out: fanInFanOut, // GPT-2's Conv1D stores W as [in, out], nn.Linear [out, in]
    bias: "none",
    use_rslora: c.useRslora ?? false,
    inference_mode: true,
    init_lora_weights: true,
    modules_to_save: null,
  });
}

/**
 * Reads PEFT adapters for a base model.
 * @param dir the adapter folder
 * @param weightShapes the base model's weight shapes (every adapter must fit its layer)
 * @param layout the base's architecture layout
 * @returns the adapters and `base_model_name_or_path`
 * @throws {InputError} naming the file and field or tensor that is wrong
 */
export async function loadLoraAdapters(
  dir: string,
  weightShapes: ReadonlyMap<string, number[]>,
  layout: LoraLayout = GPT2_LORA_LAYOUT,
): Promise<{ adapters: LoraAdapters; baseModel: string | null }> {
  const configFile = `${dir}/adapter_config.json`;
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(await Deno.readTextFile(configFile));
  } catch (error) {
    throw new InputError(`cannot read (${(error as Error).message.split("\n")[0]})`, configFile);
  }
  if (json.peft_type !== "LORA") {
    throw new InputError(
      `Field "peft_type" is ${JSON.stringify(json.peft_type)}, expected "LORA"`,
      configFile,
    );
  }
  // PEFT sets fan_in_fan_out itself for GPT-2's Conv1D; a file may leave it out
  if (json.fan_in_fan_out !== undefined && json.fan_in_fan_out !== layout.fanInFanOut) {
    throw new InputError(
      `Field "fan_in_fan_out" is ${JSON.stringify(json.fan_in_fan_out)}; ${layout.architecture}'s ${
        layout.fanInFanOut ? "Conv1D" : "nn.Linear"
      } adapters are saved with ${layout.fanInFanOut}`,
      configFile,
    );
  }
  if (json.bias !== undefined && json.bias !== "none") {
    throw new InputError(
      `Field "bias" is ${JSON.stringify(json.bias)}; only "none" is supported`,
      configFile,
    );
  }
  const targets = typeof json.target_modules === "string"
    ? [json.target_modules]
    : json.target_modules as string[];
  let config: LoraConfig;
  try {
    config = checkLoraConfig({
      r: json.r as number,
      alpha: json.lora_alpha as number,
      dropout: (json.lora_dropout as number | undefined) ?? 0,
      targetModules: targets,
      useRslora: json.use_rslora === true,
    }, "adapter_config");
  } catch (error) {
    throw new InputError((error as Error).message, configFile);
  }
  const file = `${dir}/adapter_model.safetensors`;
  const tensors = await readSafetensors(file);
  const pairs = new Map<string, LoraPair>();
  const found = new Map<string, { a?: HostTensor; b?: HostTensor }>();
  for (const [key, t] of tensors) {
    const m = key.match(
      /^(?:base_model\.model\.)?(?:transformer\.)?(.+)\.lora_([AB])(?:\.default)?\.weight$/,
    );
    if (!m) {
      throw new InputError(
        `Unexpected tensor "${key}" (expected *.lora_A.weight / *.lora_B.weight)`,
        file,
      );
    }
    const entry = found.get(m[1]) ?? {};
    if (m[2] === "A") entry.a = t;
    else entry.b = t;
    found.set(m[1], entry);
  }
  try {
    for (const [path, { a, b }] of found) {
      const shape = weightShapes.get(`${path}.weight`);
      if (!shape) {
        throw new InputError(`Tensor for "${path}": the base model has no such layer`, file);
      }
      if (!a || !b) throw new InputError(`Layer "${path}" has lora_${a ? "B" : "A"} missing`, file);
      const [inFeatures, outFeatures] = features(shape, layout);
      const expect = (t: HostTensor, dims: number[], which: string) => {
        if (t.shape.length !== 2 || t.shape[0] !== dims[0] || t.shape[1] !== dims[1]) {
          throw new InputError(
            `"${path}.lora_${which}.weight" has shape [${t.shape}], expected [${dims}] (r ${config.r}, layer [${shape}])`,
            file,
          );
        }
      };
      expect(a, [config.r, inFeatures], "A");
      expect(b, [outFeatures, config.r], "B");
      pairs.set(path, {
        a: variableOf(tf.tensor2d(a.data, [config.r, inFeatures])),
        b: variableOf(tf.tensor2d(b.data, [outFeatures, config.r])),
      });
    }
  } catch (error) {
    for (const p of pairs.values()) {
      p.a.dispose();
      p.b.dispose();
    }
    throw error;
  }
  if (pairs.size === 0) throw new InputError("holds no adapter tensors", file);
  const baseModel = typeof json.base_model_name_or_path === "string"
    ? json.base_model_name_or_path
    : null;
  return { adapters: new LoraAdapters(config, pairs, layout), baseModel };
}

/**
 * Merged weights for every adapted layer (the others as they are): W + s·Aᵀ·Bᵀ for a Conv1D
 * W [in, out], W + s·B·A for an nn.Linear W [out, in].
 * @param weights the base weights on the host, by name
 * @param adapters the adapters
 * @returns new host weights (the base is not changed)
 */
export async function mergeLoraWeights(
  weights: ReadonlyMap<string, HostTensor>,
  adapters: LoraAdapters,
): Promise<Map<string, HostTensor>> {
  const merged = new Map(weights);
  for (const [path, pair] of adapters.pairs) {
    const name = `${path}.weight`;
    const base = weights.get(name);
    if (!base) throw new RangeError(`No weight "${name}" to merge into`);
    const [a, b] = [pair.a as unknown as tf.Tensor2D, pair.b as unknown as tf.Tensor2D];
    const update = tf.tidy(() =>
      tf.mul(
        adapters.layout.fanInFanOut ? tf.matMul(a, b, true, true) : tf.matMul(b, a),
        adapters.scale,
      )
    ); // W's shape
    const delta = await update.data<"float32">();
    update.dispose();
    const data = new Float32Array(base.data.length);
    for (let i = 0; i < data.length; i++) data[i] = base.data[i] + delta[i];
    merged.set(name, { shape: base.shape, data });
  }
  return merged;
}

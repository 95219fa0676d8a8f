/**
 * The run config: a preset, overridden by a config file (JSON or YAML), then by
 * flags. Every key is checked: an unknown key or a value of the wrong type is an
 * error naming the dotted field and the file.
 * @module
 */
import { parse as parseYaml } from "yaml";
import { checkPositiveInt, checkRange, mergeConfig } from "../core/config.ts";
import { checkLoraConfig, GPT2_LORA_LAYOUT, LLAMA_PROJECTIONS } from "../models/lora.ts";
import { ConfigError, InputError } from "../core/errors.ts";
import { type TrainOptions, trainOptions } from "../pipelines/options.ts";
import { RL_ALGORITHMS } from "../pipelines/run_algorithm.ts";

/** Bounds past which the run report warns (the `report` section of a config). */
export interface ReportBounds {
  /** The learner's perplexity may exceed the zero-shot model's by this fraction. @default 0.2 */
  maxPerplexityRise: number;
  /** Entropy collapse: the last iteration's below this fraction of the first's. @default 0.5 */
  minEntropyRatio: number;
  /** Entropy blow-up: the last iteration's above this multiple of the first's. @default 1.5 */
  maxEntropyRatio: number;
  /** A PPO update is too large when its clip fraction exceeds this. @default 0.3 */
  maxClipFraction: number;
  /** The learner's distinct-2 may fall below the zero-shot model's by this much. @default 0.05 */
  maxDistinct2Drop: number;
  /** Warn when the learner's mean reward does not exceed the guide's. @default true */
  beatGuide: boolean;
}

/** Everything a run needs besides its run folder. */
export interface RunConfig {
  /** The preset this config started from. */
  preset: string;
  /** "ppo", "ppo++", "aggrevated", "lols", "d2lols", "bc" or "bc+<algorithm>". */
  algo: string;
  /** The one seed every random choice comes from. */
  seed: number;
  task: {
    /** "imdb", "commongen", "toy-dense" or "toy-sparse". */
    name: string;
    /** Where the data lives; null = the --data flag, then RLGF_DATA_DIR, then the download. */
    dataDir: string | null;
    /** Training prompts used (0 = all). */
    trainRecords: number;
    /** Held-out prompts evaluated at the end (0 = none). */
    evalRecords: number;
    /** CommonGen: a local BERT feature-extraction folder (ONNX) for BERTScore; null = none. */
    bertScoreDir: string | null;
    /**
     * Prompts as one user turn of the policy's chat template (tokenizer_config.json's
     * `chat_template`, as `apply_chat_template(..., add_generation_prompt=True)`), for
     * instruction-tuned policies; false: the prompt text alone (with the tokenizer's BOS).
     */
    chatTemplate: boolean;
  };
  /**
   * The learner: built and pretrained here ("build"), a Hugging Face folder with its own task
   * models ("dir": imdb-gpt2, imdb-llama), or the IMDB base model made by `deno task pretrain` ("base":
   * `policy.dir`, else the shipped assets/imdb-base) with the guide and reward built here.
   */
  policy: {
    source: string;
    dir: string | null;
    /**
     * Family of a built model: "gpt2" (decoder-only, pretrained as a language model) or "t5"
     * (encoder-decoder, pretrained by span corruption).
     */
    architecture: string;
    /** Shape of a built model (vocabulary from its tokenizer); T5: d_model, layers per stack, heads. */
    nEmbd: number;
    nLayer: number;
    nHead: number;
    /** Inner MLP width (T5's d_ff); 0 = 4 × nEmbd. */
    nInner: number;
    /** GPT-2's context length (T5's relative positions have none). */
    nPositions: number;
    /**
     * Where the learner starts: "pretrained" (the zero-shot model) or "bc" (the BC guide built
     * here, as the paper warm-starts its CommonGen runs).
     */
    init: string;
    /** Tokenizer vocabulary when one is trained here. */
    vocabSize: number;
    /** Language-model pretraining of a built model. */
    pretrainSteps: number;
    pretrainBatchSize: number;
    pretrainLearningRate: number;
  };
  /**
   * The guide: "bc" (fine-tuned here from the policy), "strong" (IMDB: the policy fine-tuned
   * here as a language model on positive reviews, the stand-in for the paper's GPT-3), "dir"
   * (HF folder), "onnx" (ONNX folder), "api", "toy" or "none".
   */
  guide: {
    kind: string;
    dir: string | null;
    /** BC fine-tuning steps for kind "bc". */
    bcSteps: number;
    bcLearningRate: number;
    /** kind "api": an OpenAI-compatible endpoint (`.../v1/completions` or `.../v1/chat/completions`). */
    apiUrl: string | null;
    apiModel: string | null;
    /** "completions" (the prompt text, several per request) or "chat" (a user message each). */
    apiKind: string;
    /** The environment variable holding the API key (sent as a Bearer token; never saved). */
    apiKeyEnv: string;
    /** Seconds before a request is abandoned and retried. */
    timeoutSeconds: number;
    /** Retries after a network error, a timeout, 408, 429 or 5xx (backoff with jitter). */
    maxRetries: number;
    /** Requests in flight at once. */
    concurrency: number;
    /** Prompts per completions request. */
    batchSize: number;
    /**
     * Send the learner's token ids as the prompt (servers that take them: vLLM, `deno task
     * serve`) so the guide continues the exact prefix; only with the learner's tokenizer.
     */
    tokenIds: boolean;
  };
  /**
   * The reward: "classifier" (ours, trained here), "onnx" (a local sentiment model folder), "spider",
   * "toy"; CommonGen adds `coverageWeight` × each generation's concept coverage (0: the
   * paper's CIDEr-D / SPIDEr alone).
   */
  reward: { kind: string; path: string | null; coverageWeight: number };
  /** The critic: a copy of the trunk (false) or a head on the learner's trunk (true). */
  critic: { shared: boolean };
  /**
   * LoRA (PEFT's fields): with `r` > 0 the learner trains adapters on its frozen initial
   * weights, shared with the reference and the critics (each critic its own adapters and head);
   * 0 trains every weight. GPT-2 and T5 learners. `targetModules` null takes PEFT's default
   * for the architecture (GPT-2 ["c_attn"], T5 ["q", "v"]).
   */
  lora: {
    r: number;
    alpha: number;
    dropout: number;
    targetModules: string[] | null;
    useRslora: boolean;
  };
  /**
   * Where the learner's roll-outs are sampled: "local", or "api": OpenAI-compatible servers
   * (vLLM with --enable-lora, `deno task serve --enable-lora`) serving the learner's base, to
   * which each new LoRA adapter is pushed; log-probs for the PPO ratio are recomputed here
   * unless `serverLogProbs`.
   */
  rollout: {
    kind: string;
    /** The servers' API base URLs, e.g. `http://127.0.0.1:8000/v1`. */
    servers: string[];
    /** The base model's name on the servers (asked for until the first adapter loads). */
    model: string;
    /** The environment variable holding the servers' key (never saved). */
    apiKeyEnv: string;
    timeoutSeconds: number;
    maxRetries: number;
    /** Requests in flight per server. */
    concurrency: number;
    /**
     * PPO's old log-probs of the sampled tokens are the servers' (no recompute here; the
     * train/inference mismatch stays in the ratio) instead of the learner's own.
     */
    serverLogProbs: boolean;
  };
  /**
   * Where the models run: "auto" (ONNX Runtime for roll-outs, scoring and gradients when it
   * loads, else tfjs), "onnx" (the same, and a failure to load is an error), "onnx-rollouts"
   * (ONNX Runtime for no-grad work only, gradient steps on tfjs) or "tfjs".
   */
  engine: string;
  /** Checkpoint every this many iterations; keep the last `keep`. */
  checkpoint: { every: number; keep: number };
  /** How the final evaluation decodes (Hugging Face's names): sampling, greedy or beam search. */
  evaluation: {
    /** Sample with the training decoding settings (true) or decode deterministically (false). */
    doSample: boolean;
    /** Beam width when not sampling (1 = greedy). */
    numBeams: number;
  };
  /** Bounds past which the report (cli/report.ts) warns. */
  report: ReportBounds;
  /** The algorithms' hyperparameters (pipelines/options.ts). */
  train: TrainOptions;
}

const BASE: Omit<RunConfig, "train"> & { train: Record<string, unknown> } = {
  preset: "imdb-small",
  algo: "d2lols",
  seed: 0,
  task: {
    name: "imdb",
    dataDir: null,
    trainRecords: 0,
    evalRecords: 200,
    bertScoreDir: null,
    chatTemplate: false,
  },
  policy: {
    source: "build",
    dir: null,
    architecture: "gpt2",
    nEmbd: 128,
    nLayer: 2,
    nHead: 4,
    nInner: 0,
    nPositions: 96,
    init: "pretrained",
    vocabSize: 2048,
    pretrainSteps: 300,
    pretrainBatchSize: 16,
    pretrainLearningRate: 2e-3,
  },
  guide: {
    kind: "bc",
    dir: null,
    bcSteps: 100,
    bcLearningRate: 5e-4,
    apiUrl: null,
    apiModel: null,
    apiKind: "completions",
    apiKeyEnv: "OPENAI_API_KEY",
    timeoutSeconds: 60,
    maxRetries: 4,
    concurrency: 4,
    batchSize: 16,
    tokenIds: false,
  },
  reward: { kind: "classifier", path: null, coverageWeight: 0 },
  critic: { shared: false },
  lora: { r: 0, alpha: 16, dropout: 0, targetModules: null, useRslora: false },
  rollout: {
    kind: "local",
    servers: [],
    model: "base",
    apiKeyEnv: "RLGF_ROLLOUT_API_KEY",
    timeoutSeconds: 60,
    maxRetries: 4,
    concurrency: 8,
    serverLogProbs: false,
  },
  engine: "auto",
  checkpoint: { every: 5, keep: 3 },
  evaluation: { doSample: true, numBeams: 1 },
  report: {
    maxPerplexityRise: 0.2,
    minEntropyRatio: 0.5,
    maxEntropyRatio: 1.5,
    maxClipFraction: 0.3,
    maxDistinct2Drop: 0.05,
    beatGuide: true,
  },
  train: {},
};

type PresetConfig = Omit<RunConfig, "train"> & { train: Record<string, unknown> };

/** The presets: `imdb-small` (the default), `imdb-gpt2`, `imdb-llama`, `commongen-small`, `toy`. */
export const PRESETS: Readonly<Record<string, { description: string; config: PresetConfig }>> = {
  "imdb-small": {
    description:
      "BC+D2LOLS on IMDB from the shipped base model (assets/imdb-base), with a BC guide and sentiment classifier built here",
    config: {
      ...BASE,
      // The learner starts from the BC guide, as the paper's BC+X (bench:paper's plain X rows
      // start from the base model). Measured on seed 0 (200 held-out prompts): learner 0.595,
      // BC guide 0.543, zero-shot 0.471; perplexity 104.5 vs 105.3; distinct-2 0.748 vs 0.770.
      policy: { ...BASE.policy, source: "base", init: "bc" },
      guide: { ...BASE.guide, bcSteps: 300, bcLearningRate: 3e-4 },
      report: { ...BASE.report, maxPerplexityRise: 0.25 },
      train: {
        iterations: 30,
        trajectoriesPerUpdate: 32,
        learningRate: 3e-5,
        maxPromptTokens: 32,
        generation: { maxNewTokens: 24, minNewTokens: 24, topK: 50 },
        // whitening: without it AggreVaTeD's prefix advantages (guide critic) are biased and its
        // learner collapses to near-uniform at this scale (README, Table 1 on imdb-small)
        learner: { epochs: 4, minibatchSize: 16, targetCoef: 0, normalizeAdvantages: true },
        kl: { coef: 0.05 },
      },
    },
  },
  "imdb-gpt2": {
    description:
      "the paper's IMDB setting: GPT-2 and a sentiment model from local folders, the spec's hyperparameters",
    config: {
      ...BASE,
      preset: "imdb-gpt2",
      task: { ...BASE.task, evalRecords: 5000 },
      policy: { ...BASE.policy, source: "dir", dir: null, pretrainSteps: 0 },
      guide: { ...BASE.guide, kind: "bc", bcSteps: 1000, bcLearningRate: 1e-5 },
      reward: { kind: "onnx", path: null, coverageWeight: 0 },
      train: { iterations: 50, kl: { coef: 0.1, kind: "ziegler" } },
    },
  },
  "imdb-llama": {
    description:
      "the paper's IMDB task with a Llama-family policy (SmolLM2, Qwen2.5, Llama 3.2: a folder or hub id): D2LOLS, LoRA r=16 on every projection",
    config: {
      ...BASE,
      preset: "imdb-llama",
      algo: "d2lols",
      task: { ...BASE.task, evalRecords: 5000 },
      policy: { ...BASE.policy, source: "dir", dir: null, pretrainSteps: 0 },
      // the guide is the policy fully fine-tuned on positive reviews, at the spec's BC rate
      guide: { ...BASE.guide, kind: "bc", bcSteps: 1000, bcLearningRate: 1e-5 },
      reward: { kind: "onnx", path: null, coverageWeight: 0 },
      // LoRA on Llama's seven projections, as TRL's and OpenRLHF's Llama recipes; LoRA takes a
      // ~10x larger step than the spec's full-weight 1e-5
      lora: {
        ...BASE.lora,
        r: 16,
        alpha: 32,
        targetModules: [...LLAMA_PROJECTIONS],
      },
      train: { iterations: 50, learningRate: 1e-4, kl: { coef: 0.1, kind: "ziegler" } },
    },
  },
  "commongen-small": {
    description:
      "BC+D2LOLS on CommonGen with a small T5 (span-corruption pretraining, BC guide) built here and a CIDEr-D reward",
    config: {
      ...BASE,
      preset: "commongen-small",
      algo: "d2lols",
      task: { ...BASE.task, name: "commongen", evalRecords: 200 },
      policy: {
        ...BASE.policy,
        architecture: "t5",
        vocabSize: 4096,
        nEmbd: 128,
        nLayer: 2,
        nHead: 4,
        nInner: 512,
        pretrainSteps: 1000,
        pretrainBatchSize: 64,
        pretrainLearningRate: 1e-3,
        init: "bc",
      },
      // Measured (200 val prompts, 5 beams): width 256 at 2e-3 stalled (CIDEr-D 0.03 after 800
      // steps, repeating "large"); width 128 at 1e-3 crosses into copying the concepts after
      // 300-400 steps and reaches 0.49 after 1,200.
      guide: { ...BASE.guide, bcSteps: 2000, bcLearningRate: 1e-3 },
      reward: { kind: "spider", path: null, coverageWeight: 0 },
      // the paper decodes CommonGen with 5 beams
      evaluation: { doSample: false, numBeams: 5 },
      // The paper's CommonGen settings where they apply (KL off, softmax sampling in training,
      // 20 new tokens, at least 5); advantage whitening as on imdb-small. Measured on seed 1
      // (learner CIDEr-D, BC guide 0.652): 10 iterations 0.548, 30 iterations 0.719; top-k 50
      // 0.604; learning rate 3e-4 0.476; 256 trajectories per update 0.594; 3e-5 0.638.
      train: {
        iterations: 30,
        trajectoriesPerUpdate: 64,
        learningRate: 1e-4,
        maxPromptTokens: 24,
        generation: { maxNewTokens: 20, minNewTokens: 5, topK: 0 },
        learner: {
          epochs: 4,
          minibatchSize: 32,
          vfCoef: 1,
          targetCoef: 0,
          normalizeAdvantages: true,
        },
        kl: { enabled: false, coef: 0 },
      },
    },
  },
  "toy": {
    description:
      "a tiny GPT on the sparse toy task only a hand-built guide solves (the thesis test's settings)",
    config: {
      ...BASE,
      preset: "toy",
      task: { ...BASE.task, name: "toy-sparse", evalRecords: 32 },
      policy: {
        ...BASE.policy,
        nEmbd: 16,
        nLayer: 1,
        nHead: 2,
        nPositions: 32,
        vocabSize: 16,
        pretrainSteps: 0,
      },
      guide: { ...BASE.guide, kind: "toy" },
      reward: { kind: "toy", path: null, coverageWeight: 0 },
      checkpoint: { every: 2, keep: 3 },
      train: {
        // tests/learning_test.ts: 40 iterations x 64 trajectories of 3 tokens, tril's beta 0.6
        iterations: 40,
        trajectoriesPerUpdate: 64,
        learningRate: 1e-2,
        maxPromptTokens: 8,
        learner: { epochs: 2, minibatchSize: 32, targetCoef: 0, normalizeAdvantages: true },
        kl: { coef: 0.01 },
        generation: { maxNewTokens: 3, minNewTokens: 0, topK: 0, stopAtEos: false },
        ppoPlusPlus: { beta: 0.6 },
        bc: { iterations: 80, batchSize: 16, learningRate: 2e-2 },
      },
    },
  },
};

/**
 * Reads a JSON or YAML config file (by extension), or inline JSON when `path` starts with `{`
 * (`--config '{"train":{"learningRate":3e-4}}'`); errors name the file.
 */
export async function readConfigFile(path: string): Promise<unknown> {
  if (path.trimStart().startsWith("{")) {
    try {
      return JSON.parse(path);
    } catch (error) {
      throw new InputError(`malformed inline JSON (${(error as Error).message})`, "--config");
    }
  }
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new InputError(`cannot read config file (${(error as Error).message})`, path);
  }
  try {
    return /\.ya?ml$/i.test(path) ? parseYaml(text) : JSON.parse(text);
  } catch (error) {
    throw new InputError(
      `malformed ${/\.ya?ml$/i.test(path) ? "YAML" : "JSON"} (${(error as Error).message})`,
      path,
    );
  }
}

/**
 * The resolved config: preset, then the file's overrides, then the flags'. Every
 * layer is merged strictly; `train` is checked by {@linkcode trainOptions}.
 */
export function resolveConfig(
  presetName: string,
  layers: { source: string; values: unknown }[],
): RunConfig {
  const preset = PRESETS[presetName];
  if (!preset) {
    throw new ConfigError(
      "preset",
      `unknown preset "${presetName}"; expected one of: ${Object.keys(PRESETS).join(", ")}`,
    );
  }
  let config = structuredClone(preset.config) as PresetConfig;
  // A user's `train` section may set any TrainOptions key, not only the preset's.
  let train: TrainOptions = trainOptions(config.train);
  for (const layer of layers) {
    if (layer.values === undefined || layer.values === null) continue;
    try {
      const { train: trainOverrides, ...rest } = layer.values as Record<string, unknown>;
      config = mergeConfig(config, rest, { nullable: NULLABLE });
      if (trainOverrides !== undefined) {
        train = trainOptions(
          mergeConfig(train, trainOverrides, { prefix: "train", nullable: TRAIN_NULLABLE }),
        );
      }
    } catch (error) {
      if (error instanceof ConfigError) {
        throw new ConfigError(
          error.field,
          `${error.message.replace(/^Config field "[^"]*": /, "")} (in ${layer.source})`,
        );
      }
      throw error;
    }
  }
  const resolved = { ...config, train };
  validateRunConfig(resolved);
  return resolved;
}

/** The values each enumerated field accepts. */
export const CONFIG_CHOICES: Readonly<Record<string, readonly string[]>> = {
  "task.name": ["imdb", "commongen", "toy-dense", "toy-sparse"],
  "policy.source": ["build", "dir", "base"],
  "policy.architecture": ["gpt2", "t5"],
  "policy.init": ["pretrained", "bc"],
  "guide.kind": ["bc", "strong", "dir", "onnx", "api", "toy", "none"],
  "guide.apiKind": ["completions", "chat"],
  "rollout.kind": ["local", "api"],
  "reward.kind": ["classifier", "onnx", "spider", "toy"],
  "engine": ["auto", "onnx", "onnx-rollouts", "tfjs"],
};

/**
 * Checks the algorithm, the enumerated fields of a resolved config and the fields they make
 * required (a folder for `policy.source: dir`, an endpoint for `guide.kind: api`, ...).
 * @param config the resolved config
 * @throws {ConfigError} naming the first bad field and the accepted values
 */
export function validateRunConfig(config: RunConfig): void {
  const rl = Object.keys(RL_ALGORITHMS);
  if (config.algo !== "bc" && !rl.includes(config.algo.replace(/^bc\+/, ""))) {
    throw new ConfigError(
      "algo",
      `unknown algorithm ${JSON.stringify(config.algo)}; expected one of: ${
        [...rl, "bc", "bc+<algorithm>"].join(", ")
      }`,
    );
  }
  const values: Record<string, unknown> = {
    "task.name": config.task.name,
    "policy.source": config.policy.source,
    "policy.architecture": config.policy.architecture,
    "policy.init": config.policy.init,
    "guide.kind": config.guide.kind,
    "guide.apiKind": config.guide.apiKind,
    "rollout.kind": config.rollout.kind,
    "reward.kind": config.reward.kind,
    "engine": config.engine,
  };
  for (const [field, choices] of Object.entries(CONFIG_CHOICES)) {
    if (!choices.includes(values[field] as string)) {
      throw new ConfigError(
        field,
        `unknown value ${JSON.stringify(values[field])}; expected one of: ${choices.join(", ")}`,
      );
    }
  }
  checkPositiveInt("evaluation.numBeams", config.evaluation.numBeams);
  const w = config.reward.coverageWeight;
  if (typeof w !== "number" || !(w >= 0) || !Number.isFinite(w)) {
    throw new ConfigError("reward.coverageWeight", `expected a finite number ≥ 0, got ${w}`);
  }
  if (w > 0 && config.task.name !== "commongen") {
    throw new ConfigError("reward.coverageWeight", 'applies to task.name "commongen" only');
  }
  if (!Number.isInteger(config.lora.r) || config.lora.r < 0) {
    throw new ConfigError("lora.r", `expected 0 (off) or a positive integer, got ${config.lora.r}`);
  }
  const targets = config.lora.targetModules;
  if (
    targets !== null &&
    (!Array.isArray(targets) || targets.some((m) => typeof m !== "string" || m === ""))
  ) {
    throw new ConfigError(
      "lora.targetModules",
      'expected null (the architecture\'s default) or a list of module names, e.g. ["c_attn"]',
    );
  }
  // the targets are matched against the learner's layers when it is built
  if (config.lora.r > 0) {
    checkLoraConfig({
      ...config.lora,
      targetModules: targets ?? [...GPT2_LORA_LAYOUT.defaultTargets],
    });
  }
  if (config.rollout.kind === "api") {
    if (config.rollout.servers.length === 0) {
      throw new ConfigError(
        "rollout.servers",
        'must list at least one server when rollout.kind is "api"',
      );
    }
    for (const url of config.rollout.servers) {
      if (typeof url !== "string" || !/^https?:\/\/\S+$/.test(url)) {
        throw new ConfigError(
          "rollout.servers",
          `expected http(s) URLs, got ${JSON.stringify(url)}`,
        );
      }
    }
    if (config.policy.architecture === "t5") {
      throw new ConfigError(
        "rollout.kind",
        '"api" samples decoder-only (GPT-2) learners; a T5 learner\'s roll-outs stay "local"',
      );
    }
    if (config.lora.r === 0) {
      throw new ConfigError(
        "rollout.kind",
        '"api" pushes the learner\'s LoRA adapter to the servers after each update: set lora.r > 0',
      );
    }
  }
  checkRange("rollout.timeoutSeconds", config.rollout.timeoutSeconds, 1e-3, 86400);
  checkRange("rollout.maxRetries", config.rollout.maxRetries, 0, 100);
  checkPositiveInt("rollout.concurrency", config.rollout.concurrency);
  checkRange("guide.timeoutSeconds", config.guide.timeoutSeconds, 1e-3, 86400);
  checkRange("guide.maxRetries", config.guide.maxRetries, 0, 100);
  if (!Number.isInteger(config.guide.maxRetries)) {
    throw new ConfigError(
      "guide.maxRetries",
      `expected an integer, got ${config.guide.maxRetries}`,
    );
  }
  checkPositiveInt("guide.concurrency", config.guide.concurrency);
  checkPositiveInt("guide.batchSize", config.guide.batchSize);
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(config.guide.apiKeyEnv)) {
    throw new ConfigError(
      "guide.apiKeyEnv",
      `expected an environment variable name, got ${JSON.stringify(config.guide.apiKeyEnv)}`,
    );
  }
  if (config.evaluation.doSample && config.evaluation.numBeams > 1) {
    throw new ConfigError(
      "evaluation.numBeams",
      `is ${config.evaluation.numBeams}, but beam search needs evaluation.doSample false`,
    );
  }
  for (const [key, value] of Object.entries(config.report)) {
    if (typeof value === "number") checkRange(`report.${key}`, value, 0, Number.MAX_VALUE);
  }
  const require = (field: string, value: unknown, why: string) => {
    if (value === null || value === "") throw new ConfigError(field, `must be set ${why}`);
  };
  if (config.policy.source === "dir") {
    require(
      "policy.dir",
      config.policy.dir,
      'to a decoder-only model folder or hub id (GPT-2, Llama family) when policy.source is "dir"',
    );
  }
  if (config.guide.kind === "dir" || config.guide.kind === "onnx") {
    require(
      "guide.dir",
      config.guide.dir,
      `to a model folder when guide.kind is "${config.guide.kind}"`,
    );
  }
  if (config.guide.kind === "api") {
    require(
      "guide.apiUrl",
      config.guide.apiUrl,
      'to a completions endpoint when guide.kind is "api"',
    );
    require(
      "guide.apiModel",
      config.guide.apiModel,
      'to the API\'s model name when guide.kind is "api"',
    );
  }
  if (config.reward.kind === "onnx") {
    require(
      "reward.path",
      config.reward.path,
      'to a sentiment model folder when reward.kind is "onnx"',
    );
  }
}

const NULLABLE = [
  "lora.targetModules",
  "task.dataDir",
  "task.bertScoreDir",
  "policy.dir",
  "guide.dir",
  "guide.apiUrl",
  "guide.apiModel",
  "reward.path",
];
const TRAIN_NULLABLE = ["train.criticLearningRate", "train.learner.targetKl"];

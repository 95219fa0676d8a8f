/**
 * The cache of artefacts a preset builds (tokenizers, pretrained and BC models,
 * reward models), and the supervised loops that build the models. Each artefact
 * is a folder written atomically and keyed by the settings that shape it.
 * @module
 */
import { exists } from "../core/fs.ts";
import { writeDirAtomic } from "../core/atomic.ts";
import type { Rng } from "../core/prng.ts";
import { saveBpeTokenizer, trainBpe, type TrainBpeOptions } from "../models/bpe.ts";
import { createGPT2, type GPT2LM } from "../models/gpt2.ts";
import { loadPolicy, type PolicyModel, savePolicy } from "../models/t5_checkpoint.ts";
import { type HFTokenizer, loadTokenizer } from "../models/tokenizer.ts";
import type { GPT2Config, TokenGenerator, Tokenizer } from "../models/types.ts";
import { onEngine, openEngine } from "../models/engine/mod.ts";
import type { GenerationDefaults } from "../tasks/types.ts";
import { AdamW } from "../stages/adamw.ts";
import { nllStep } from "../stages/nll_update.ts";
import { defaultCacheDir } from "../tasks/download.ts";
import { resolveDataDir } from "../tasks/data_dir.ts";
import { Progress } from "./progress.ts";

/** The folder cached artefacts go to (tasks/download.ts's cache: RLGF_CACHE_DIR, else ~/.cache/rlgf). */
export function cacheRoot(): string {
  return `${defaultCacheDir()}/presets`;
}

/** Folders searched for datasets when neither --data nor RLGF_DATA_DIR is given. */
export const LOCAL_DATA_DIRS = ["data", "../shared/data"];

/**
 * The data folder: the config's (from --data), else RLGF_DATA_DIR, else the first of
 * {@linkcode LOCAL_DATA_DIRS} holding `task` (e.g. "imdb"); undefined means download.
 */
export async function localDataDir(
  configured: string | null,
  task: string,
): Promise<string | undefined> {
  const resolved = resolveDataDir(configured ?? undefined);
  if (resolved) return resolved;
  for (const dir of LOCAL_DATA_DIRS) if (await exists(`${dir}/${task}`)) return dir;
  return undefined;
}

/** A short stable hash of the settings an artefact depends on. */
export function cacheKey(value: unknown): string {
  let h = 0x811c9dc5;
  for (const ch of JSON.stringify(value)) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, "0");
}

/**
 * Part of the keys of cached trained models: bumped when their training route changes
 * (2: gradient steps on the ONNX Runtime engine), so models built another way are not reused.
 */
export const TRAINING_ROUTE = 2;

/** Builds `dir` with `build` unless it is already there (atomic: complete or absent). */
export async function cached(
  dir: string,
  what: string,
  build: (tmp: string) => Promise<void>,
): Promise<void> {
  if (await exists(dir)) {
    console.error(`cache: ${what} from ${dir}`);
    return;
  }
  console.error(`cache: building ${what} -> ${dir}`);
  const started = performance.now();
  await writeDirAtomic(dir, build);
  console.error(`cache: ${what} built in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

/** Token stream of many texts, each followed by EOS, for language-model pretraining. */
export function tokenStream(texts: string[], tokenizer: Tokenizer): Int32Array {
  const ids: number[] = [];
  for (const text of texts) ids.push(...tokenizer.encode(text), tokenizer.eosTokenId);
  return Int32Array.from(ids);
}

/** (prompt, target) rows for one supervised step. */
export type SupervisedBatch = { prompts: number[][]; targets: number[][] };

/** Where a resumed supervised training picks up: the steps done and the optimizer's state. */
export interface SupervisedResume {
  step: number;
  optimizer: { step: number; m: Float32Array[]; v: Float32Array[] };
}

/**
 * Supervised NLL steps (AdamW, gradient-norm clip 1) on the batches `draw` makes, with the
 * gradient steps on the ONNX Runtime engine when it loads (about 5x faster than tfjs-wasm).
 * Each step's batch comes from its own stream (`rng.child("step-N")`), so a training resumed
 * from a checkpoint draws what an unbroken one would have.
 * @param model the model (GPT-2 or T5) trained in place
 * @param draw the batch of a step, from that step's random stream
 * @param options steps, peak learning rate and its schedule (a factor per step), weight decay;
 *   where to resume from and where to stop this sitting, and hooks after each step and every
 *   `checkpointEvery` steps (and at the last step of the sitting)
 * @returns the last step's loss
 */
export async function supervisedTraining(
  model: PolicyModel,
  draw: (rng: Rng, step: number) => SupervisedBatch,
  options: {
    steps: number;
    learningRate: number;
    schedule: (step: number, steps: number) => number;
    weightDecay: number;
    rng: Rng;
    label: string;
    resume?: SupervisedResume;
    /** Stop this sitting after this step (a checkpoint is taken there); default `steps`. */
    until?: number;
    onStep?: (step: number, loss: number) => Promise<void> | void;
    checkpointEvery?: number;
    onCheckpoint?: (resume: SupervisedResume) => Promise<void>;
  },
): Promise<number> {
  const engine = await openEngine(model.config, "auto");
  const trainer = onEngine(model, engine);
  const optimizer = new AdamW(model.trainableVariables(), {
    learningRate: options.learningRate,
    weightDecay: options.weightDecay,
  });
  const first = options.resume?.step ?? 0;
  if (options.resume) optimizer.setState(options.resume.optimizer);
  const progress = new Progress(options.label, options.steps, { unit: "step", initial: first });
  let loss = NaN;
  try {
    const last = Math.min(options.steps, options.until ?? options.steps);
    for (let step = first; step < last; step++) {
      optimizer.learningRate = options.learningRate * options.schedule(step, options.steps);
      const batch = draw(options.rng.child(`step-${step}`), step);
      loss = nllStep(trainer, optimizer, batch, 1).nll;
      if (!Number.isFinite(loss)) {
        throw new RangeError(`${options.label}: the loss of step ${step + 1} is ${loss}`);
      }
      progress.update(step + 1, { loss: loss.toFixed(3) });
      await options.onStep?.(step + 1, loss);
      const every = options.checkpointEvery ?? 0;
      if (
        options.onCheckpoint && every > 0 &&
        ((step + 1) % every === 0 || step + 1 === last)
      ) {
        await options.onCheckpoint({ step: step + 1, optimizer: optimizer.getState() });
      }
    }
  } finally {
    optimizer.dispose();
    await engine?.dispose();
  }
  progress.finish();
  return loss;
}

/** Linear warm-up over the first 5 % of steps, then linear decay to 10 % (pretraining). */
export function warmupDecay(step: number, steps: number): number {
  const warm = Math.min(1, (step + 1) / Math.max(1, steps * 0.05));
  return warm * (1 - 0.9 * step / steps);
}

/**
 * Warm-up, stable, decay: linear warm-up over `warmupSteps`, the peak until the last
 * `decayFraction` of the steps, then linear decay to 0. Until the decay starts the factor does
 * not depend on the total, so a longer or shorter training can go on from a checkpoint taken
 * before its decay.
 */
export function warmupStableDecay(
  warmupSteps: number,
  decayFraction: number,
): (step: number, steps: number) => number {
  return (step, steps) => {
    const warm = Math.min(1, (step + 1) / Math.max(1, warmupSteps));
    const decayStart = decayStartStep(steps, decayFraction);
    return warm * (step < decayStart ? 1 : (steps - step) / (steps - decayStart));
  };
}

/** The first step of {@linkcode warmupStableDecay}'s decay. */
export function decayStartStep(steps: number, decayFraction: number): number {
  return steps - Math.round(steps * decayFraction);
}

/** Linear decay to 0 (fine-tuning). */
export function linearDecay(step: number, steps: number): number {
  return 1 - step / steps;
}

/** Language-model pretraining on random windows of a token stream. */
export async function pretrain(
  model: GPT2LM,
  stream: Int32Array,
  options: {
    steps: number;
    batchSize: number;
    window: number;
    learningRate: number;
    rng: Rng;
    label: string;
  },
): Promise<number> {
  return await supervisedTraining(model, (rng) => {
    const prompts: number[][] = [];
    const targets: number[][] = [];
    for (let b = 0; b < options.batchSize; b++) {
      const start = rng.int(stream.length - options.window - 1);
      const window = Array.from(stream.subarray(start, start + options.window));
      prompts.push(window.slice(0, 1));
      targets.push(window.slice(1));
    }
    return { prompts, targets };
  }, { ...options, schedule: warmupDecay, weightDecay: 0.01 });
}

/** Supervised fine-tuning on (prompt, reference) pairs, BC's update. */
export async function fineTune(
  model: PolicyModel,
  pairs: { prompt: number[]; target: number[] }[],
  options: {
    steps: number;
    batchSize: number;
    learningRate: number;
    rng: Rng;
    label: string;
    schedule?: (step: number, steps: number) => number;
  },
): Promise<number> {
  return await supervisedTraining(model, (rng) => {
    const rows = Array.from({ length: options.batchSize }, () => pairs[rng.int(pairs.length)]);
    return { prompts: rows.map((r) => r.prompt), targets: rows.map((r) => r.target) };
  }, { schedule: linearDecay, ...options, weightDecay: 0 });
}

export { exists };

/** What the preset builders cache, in the run config's terms. */
type PolicySettings = {
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nPositions: number;
  pretrainSteps: number;
  pretrainBatchSize: number;
  pretrainLearningRate: number;
};

/** The GPT-2 config of a model built here: the policy's shape, the tokenizer's vocabulary and EOS. */
export function builtShape(policy: PolicySettings, tokenizer: Tokenizer): Partial<GPT2Config> {
  return {
    vocabSize: tokenizer.vocabSize,
    nPositions: policy.nPositions,
    nEmbd: policy.nEmbd,
    nLayer: policy.nLayer,
    nHead: policy.nHead,
    bosTokenId: tokenizer.eosTokenId,
    eosTokenId: tokenizer.eosTokenId,
  };
}

/**
 * Builds (or reuses) a byte-level BPE tokenizer fitted to `texts` in `dir`, then loads it.
 * @param dir the cache folder (its key must cover `vocabSize` and `specials`)
 * @param vocabSize the vocabulary, special tokens included
 * @param texts the corpus, read only when building
 * @param specials the special tokens (default GPT-2's: `<|endoftext|>` as EOS and pad)
 * @returns the loaded tokenizer
 */
export async function cachedTokenizer(
  dir: string,
  vocabSize: number,
  texts: () => Promise<string[]>,
  specials: Pick<TrainBpeOptions, "eosToken" | "padToken" | "extraTokens"> = {},
): Promise<HFTokenizer> {
  await cached(dir, `BPE tokenizer (vocabulary ${vocabSize})`, async (tmp) => {
    await saveBpeTokenizer(trainBpe(await texts(), { vocabSize, ...specials }), tmp);
  });
  return await loadTokenizer(dir);
}

/**
 * Builds (or reuses) under `root` a fresh GPT pretrained as a language model on `texts`, in a
 * folder keyed by the tokenizer's folder, the model's shape and the pretraining settings.
 * @returns the model's folder
 */
export async function cachedPretrained(
  root: string,
  tokenizerDir: string,
  policy: PolicySettings,
  tokenizer: HFTokenizer,
  texts: () => Promise<string[]>,
  rng: Rng,
): Promise<string> {
  const dir = `${root}/pretrained-${
    cacheKey({
      tokenizerDir,
      shape: [policy.nPositions, policy.nEmbd, policy.nLayer, policy.nHead],
      steps: policy.pretrainSteps,
      batch: policy.pretrainBatchSize,
      lr: policy.pretrainLearningRate,
      route: TRAINING_ROUTE,
    })
  }`;
  await cachedTrained(
    dir,
    `pretrained GPT (${policy.nLayer} layers, width ${policy.nEmbd})`,
    () => createGPT2(builtShape(policy, tokenizer), rng.child("pretrain-init")),
    async (model) => {
      const stream = tokenStream(await texts(), tokenizer);
      await pretrain(model, stream, {
        steps: policy.pretrainSteps,
        batchSize: policy.pretrainBatchSize,
        window: Math.min(policy.nPositions, 64, stream.length - 2),
        learningRate: policy.pretrainLearningRate,
        rng: rng.child("pretrain"),
        label: "pretrain",
      });
    },
    tokenizer,
  );
  return dir;
}

/**
 * Builds (or reuses) in `dir` a fresh model trained by `train` and saved with `tokenizer`.
 * @param dir the cache folder
 * @param what what it is, for the cache's notes
 * @param create makes the untrained model
 * @param train trains it in place
 * @param tokenizer saved beside the weights
 */
export async function cachedTrained<M extends PolicyModel>(
  dir: string,
  what: string,
  create: () => M,
  train: (model: M) => Promise<unknown>,
  tokenizer: HFTokenizer,
): Promise<void> {
  await cached(dir, what, async (tmp) => {
    const model = create();
    try {
      await train(model);
      model.tokenizer = tokenizer;
      await savePolicy(model, tmp);
    } finally {
      model.dispose();
    }
  });
}

/** Builds (or reuses) in `dir` a BC guide: the model in `fromDir` fine-tuned on `pairs`. */
export async function cachedBcGuide(
  dir: string,
  what: string,
  fromDir: string,
  pairs: () => Promise<{ prompt: number[]; target: number[] }[]>,
  options: {
    steps: number;
    learningRate: number;
    rng: Rng;
    batchSize?: number;
    schedule?: (step: number, steps: number) => number;
  },
): Promise<void> {
  await cached(dir, what, async (tmp) => {
    const data = await pairs();
    if (data.length === 0) {
      throw new RangeError(`No (prompt, target) pairs to fine-tune the ${what} on`);
    }
    const model = await loadPolicy(fromDir);
    try {
      await fineTune(model, data, {
        steps: options.steps,
        batchSize: options.batchSize ?? 16,
        learningRate: options.learningRate,
        rng: options.rng.child("bc-guide"),
        label: "bc guide",
        ...(options.schedule ? { schedule: options.schedule } : {}),
      });
      await savePolicy(model, tmp);
    } finally {
      model.dispose();
    }
  });
}

/** A task's decoding defaults from the run's train options (prompt budget and generation). */
export function taskGeneration(train: {
  maxPromptTokens: number;
  generation: { maxNewTokens: number; minNewTokens: number; topK: number };
}): GenerationDefaults {
  const g = train.generation;
  return {
    maxPromptTokens: train.maxPromptTokens,
    maxNewTokens: g.maxNewTokens,
    minNewTokens: g.minNewTokens,
    topK: g.topK,
  };
}

/** The guide as a report baseline: "BC guide" or "strong guide" when built here, else "guide". */
export function guideBaselines(
  kind: string,
  guide: TokenGenerator | null,
): { name: string; policy: TokenGenerator }[] {
  const name = kind === "bc" ? "BC guide" : kind === "strong" ? "strong guide" : "guide";
  return guide ? [{ name, policy: guide }] : [];
}

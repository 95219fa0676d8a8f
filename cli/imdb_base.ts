/**
 * The IMDB base model: the GPT the default preset starts from, pretrained here as a language
 * model on review text by `deno task pretrain` and shipped in `assets/imdb-base`. This module
 * holds its recipe, its corpus (the train split and any unlabelled reviews; never the reviews
 * evaluation prompts or held-out numbers come from) and the resumable training itself.
 * @module
 */
import { writeFileAtomic, writeJsonAtomic } from "../core/atomic.ts";
import { cpuModelName } from "../core/machine.ts";
import { InputError } from "../core/errors.ts";
import { exists } from "../core/fs.ts";
import { Rng } from "../core/prng.ts";
import { loadCausalLM, saveCausalLM } from "../models/checkpoint.ts";
import { createGPT2, type GPT2LM } from "../models/gpt2.ts";
import { onEngine, openEngine } from "../models/engine/mod.ts";
import { readSafetensors, writeSafetensors } from "../models/safetensors.ts";
import type { HFTokenizer } from "../models/tokenizer.ts";
import { bitsPerByte } from "../rewards/bits_per_byte.ts";
import { loadImdbSplit, loadImdbUnlabelled } from "../tasks/imdb.ts";
import { imdbSplitIndices, loadImdbHeldOut } from "../tasks/imdb_task.ts";
import {
  cachedTokenizer,
  cacheKey,
  decayStartStep,
  type SupervisedResume,
  supervisedTraining,
  tokenStream,
  warmupStableDecay,
} from "./_cache.ts";
import {
  acquireRunLock,
  appendJsonl,
  fileSha256,
  loadLatestCheckpoint,
  prepareRunDir,
  removeCheckpointLeftovers,
  truncateMetrics,
  writeCheckpoint,
} from "./run_dir.ts";

/** How the base model is made: everything that shapes its weights. */
export interface BaseRecipe {
  /** The one seed of the initialisation and of every batch. */
  seed: number;
  /** BPE vocabulary (special token included), fitted to the first `tokenizerReviews` train reviews. */
  vocabSize: number;
  tokenizerReviews: number;
  nLayer: number;
  nEmbd: number;
  nHead: number;
  /** Context length; pretraining windows are this long. */
  nPositions: number;
  steps: number;
  batchSize: number;
  /**
   * Peak learning rate: linear warm-up over `warmupSteps`, constant, then linear decay to 0
   * over the last `decayFraction` of the steps (`warmupStableDecay`).
   */
  learningRate: number;
  warmupSteps: number;
  decayFraction: number;
  weightDecay: number;
}

/**
 * The shipped base model's recipe. Measured on 2 cores of an AMD EPYC: about 2 s a step of
 * 32 × 128 tokens on the ONNX Runtime engine, so the whole run takes several sittings (it resumes).
 */
export const IMDB_BASE_RECIPE: Readonly<BaseRecipe> = Object.freeze({
  seed: 0,
  vocabSize: 4096,
  tokenizerReviews: 20000,
  nLayer: 4,
  nEmbd: 256,
  nHead: 4,
  nPositions: 128,
  // 10,000 planned; cut to 6,000 at step 2,500 (held-out 1.70 bits per byte, falling about 0.09
  // per doubling at the constant rate and slowing): constant to 4,800 (about 1.63), then the decay
  steps: 6000,
  batchSize: 32,
  learningRate: 2e-3,
  warmupSteps: 200,
  decayFraction: 0.2,
  weightDecay: 0.01,
});

/** Held-out reviews scored at each checkpoint (the final score uses all of them). */
const PROBE_REVIEWS = 100;

/** The texts a base model trains on, and the held-out reviews it is measured on. */
export interface BaseCorpus {
  /** The task's train split (80 % of the labelled train reviews), then any unlabelled reviews. */
  train: string[];
  /** Test reviews no split of the task uses (`imdbSplitIndices(...).heldOut`). */
  heldOut: string[];
  /** How many of `train` are unlabelled reviews. */
  unlabelled: number;
}

/** Reads the base model's corpus from an IMDB data folder. */
export async function imdbBaseCorpus(dataDir: string): Promise<BaseCorpus> {
  const labelled = await loadImdbSplit(dataDir, "train");
  const split = imdbSplitIndices(labelled.length, 0);
  const unlabelled = await loadImdbUnlabelled(dataDir);
  return {
    train: [...split.train.map((i) => labelled[i].text), ...unlabelled],
    heldOut: await loadImdbHeldOut(dataDir),
    unlabelled: unlabelled.length,
  };
}

/** What `pretrain.json` beside the shipped weights records. */
export interface BaseRecord {
  recipe: BaseRecipe;
  /** Held-out bits per byte, on how many reviews and bytes. */
  heldOut: { bitsPerByte: number; reviews: number; bytes: number; tokens: number };
  /** Training texts (reviews) and tokens in their stream. */
  corpus: { reviews: number; unlabelled: number; tokens: number; bytesPerToken: number };
  /** Wall time of the training over all sittings, and the machine of the last one. */
  seconds: number;
  machine: string;
  /** The last step's training loss (nats per token). */
  finalLoss: number;
  /** SHA-256 of each shipped file. */
  sha256: Record<string, string>;
}

export { fileSha256 };

/** The files of a base-model folder whose checksums `pretrain.json` records. */
export const BASE_FILES = ["model.safetensors", "config.json", "tokenizer.json"];

/** The machine's CPU and its thread count. */
async function cpuName(): Promise<string> {
  return `${await cpuModelName()}, ${navigator.hardwareConcurrency} threads`;
}

/** Options of {@linkcode pretrainBase}. */
export interface PretrainBaseOptions {
  corpus: BaseCorpus;
  recipe: BaseRecipe;
  /** The run folder: tokenizer, checkpoints and `log.jsonl` (loss per step, held-out probes). */
  workDir: string;
  /** Where the finished model goes (a Hugging Face folder with a model card). */
  outDir: string;
  /** Save (and probe held-out bits per byte) every this many steps. */
  checkpointEvery: number;
  /** Held-out reviews in the final measurement (default all). */
  heldOutReviews?: number;
  /** End this sitting after this many steps in all (checkpointed); the next call resumes. */
  stopAfter?: number;
  log?: (line: string) => void;
}

/** The scalar part of a pretraining checkpoint. */
type Progress = { step: number; steps: number; seconds: number; recipeKey: string };

/**
 * Trains the base model of `recipe` on `corpus`, resuming from the last checkpoint in
 * `workDir`, and writes the finished model, its `pretrain.json` and model card to `outDir`.
 * Each step's batch is drawn from its own stream, so a resumed run equals an unbroken one.
 * @returns what `pretrain.json` records, or null when the sitting stopped (`stopAfter`) before
 *   the last step
 */
export async function pretrainBase(options: PretrainBaseOptions): Promise<BaseRecord | null> {
  const { corpus, recipe, workDir } = options;
  const log = options.log ?? ((line: string) => console.error(line));
  // Checkpoints from before the decay serve any length of the same recipe (the schedule is
  // the same until then), so the key leaves the steps out.
  const recipeKey = cacheKey({ ...recipe, steps: undefined });
  const decayStart = decayStartStep(recipe.steps, recipe.decayFraction);
  await prepareRunDir(workDir);
  await using _lock = await acquireRunLock(workDir, log);
  for (const name of await removeCheckpointLeftovers(workDir)) log(`removed ${name}`);

  const tokenizer = await cachedTokenizer(
    `${workDir}/tokenizer-${cacheKey({ v: recipe.vocabSize, n: recipe.tokenizerReviews })}`,
    recipe.vocabSize,
    () => Promise.resolve(corpus.train.slice(0, recipe.tokenizerReviews)),
  );
  const started = performance.now();
  const stream = tokenStream(corpus.train, tokenizer);
  const bytes = corpus.train.reduce((n, text) => n + new TextEncoder().encode(text).length, 0);
  log(
    `corpus: ${corpus.train.length} reviews (${corpus.unlabelled} unlabelled), ` +
      `${stream.length} tokens, ${(bytes / stream.length).toFixed(2)} bytes per token ` +
      `(tokenised in ${((performance.now() - started) / 1000).toFixed(0)} s)`,
  );
  if (stream.length <= recipe.nPositions + 1) {
    throw new RangeError(
      `The corpus has ${stream.length} tokens; pretraining windows need more than ${
        recipe.nPositions + 1
      }`,
    );
  }

  const resumed = await loadLatestCheckpoint(workDir, async (path) => {
    const state: Progress = JSON.parse(await Deno.readTextFile(`${path}/state.json`));
    if (state.recipeKey !== recipeKey) {
      throw new InputError(
        `holds a model of another recipe (key ${state.recipeKey}, this one ${recipeKey}); ` +
          "use another --work folder",
        `${path}/state.json`,
      );
    }
    const ownDecay = decayStartStep(state.steps, recipe.decayFraction);
    if (state.steps !== recipe.steps && state.step > Math.min(decayStart, ownDecay)) {
      throw new InputError(
        `is at step ${state.step} of ${state.steps}, past the start of a decay (step ` +
          `${Math.min(decayStart, ownDecay)}); only --steps ${state.steps} can go on from it`,
        `${path}/state.json`,
      );
    }
    const model = await loadCausalLM(`${path}/model`);
    const moments = await readSafetensors(`${path}/optimizer.safetensors`);
    const take = (key: string) => {
      const t = moments.get(key);
      if (!t) throw new InputError(`tensor "${key}" is missing`, `${path}/optimizer.safetensors`);
      return t.data;
    };
    const variables = model.trainableVariables();
    const optimizer = {
      step: state.step,
      m: variables.map((_, i) => take(`m/${i}`)),
      v: variables.map((_, i) => take(`v/${i}`)),
    };
    return { model, state, resume: { step: state.step, optimizer } satisfies SupervisedResume };
  }, log);

  const shape = {
    vocabSize: tokenizer.vocabSize,
    nPositions: recipe.nPositions,
    nEmbd: recipe.nEmbd,
    nLayer: recipe.nLayer,
    nHead: recipe.nHead,
    bosTokenId: tokenizer.eosTokenId,
    eosTokenId: tokenizer.eosTokenId,
  };
  const rng = new Rng(recipe.seed).child("imdb-base");
  const model: GPT2LM = resumed?.value.model ?? createGPT2(shape, rng.child("init"));
  model.tokenizer = tokenizer;
  let priorSeconds = resumed?.value.state.seconds ?? 0;
  const metricsPath = `${workDir}/log.jsonl`;
  if (resumed) {
    log(`resuming from ${resumed.path} (step ${resumed.value.state.step} of ${recipe.steps})`);
    // the resumed step's own records were written before its checkpoint
    await truncateMetrics(metricsPath, resumed.value.state.step + 1);
  }
  const sitting = performance.now();
  const elapsed = () => priorSeconds + (performance.now() - sitting) / 1000;
  const probe = options.corpus.heldOut.slice(0, PROBE_REVIEWS);
  const window = recipe.nPositions;
  let loss = NaN;
  try {
    loss = await supervisedTraining(model, (stepRng) => {
      const prompts: number[][] = [];
      const targets: number[][] = [];
      for (let b = 0; b < recipe.batchSize; b++) {
        const start = stepRng.int(stream.length - window);
        const ids = Array.from(stream.subarray(start, start + window));
        prompts.push(ids.slice(0, 1));
        targets.push(ids.slice(1));
      }
      return { prompts, targets };
    }, {
      steps: recipe.steps,
      learningRate: recipe.learningRate,
      schedule: warmupStableDecay(recipe.warmupSteps, recipe.decayFraction),
      weightDecay: recipe.weightDecay,
      rng: rng.child("batches"),
      label: "pretrain",
      resume: resumed?.value.resume,
      until: options.stopAfter,
      onStep: async (step, stepLoss) => {
        await appendJsonl(metricsPath, { iteration: step, loss: stepLoss, seconds: elapsed() });
      },
      checkpointEvery: options.checkpointEvery,
      onCheckpoint: async (resume) => {
        const path = await writeCheckpoint(workDir, resume.step, async (tmp) => {
          await saveCausalLM(model, `${tmp}/model`);
          const moments = new Map<string, { shape: number[]; data: Float32Array }>();
          resume.optimizer.m.forEach((data, i) =>
            moments.set(`m/${i}`, { shape: [data.length], data })
          );
          resume.optimizer.v.forEach((data, i) =>
            moments.set(`v/${i}`, { shape: [data.length], data })
          );
          await writeSafetensors(`${tmp}/optimizer.safetensors`, moments);
          const state: Progress = {
            step: resume.step,
            steps: recipe.steps,
            seconds: elapsed(),
            recipeKey,
          };
          await writeJsonAtomic(`${tmp}/state.json`, state);
        }, 2);
        const held = await heldOutBits(model, tokenizer, probe);
        log(
          `step ${resume.step}: checkpoint ${path}; held-out ${held.bitsPerByte.toFixed(3)} ` +
            `bits per byte (${probe.length} reviews)`,
        );
        await appendJsonl(metricsPath, {
          iteration: resume.step,
          heldOutBitsPerByte: held.bitsPerByte,
          seconds: elapsed(),
        });
      },
    });
    priorSeconds = elapsed();
    if ((options.stopAfter ?? recipe.steps) < recipe.steps) return null;
    const reviews = corpus.heldOut.slice(0, options.heldOutReviews ?? corpus.heldOut.length);
    const held = await heldOutBits(model, tokenizer, reviews);
    log(`held-out: ${held.bitsPerByte.toFixed(4)} bits per byte on ${reviews.length} reviews`);
    await saveCausalLM(model, options.outDir);
    const sha256: Record<string, string> = {};
    for (const name of BASE_FILES) sha256[name] = await fileSha256(`${options.outDir}/${name}`);
    const record: BaseRecord = {
      recipe: { ...recipe },
      heldOut: { ...held, reviews: reviews.length },
      corpus: {
        reviews: corpus.train.length,
        unlabelled: corpus.unlabelled,
        tokens: stream.length,
        bytesPerToken: bytes / stream.length,
      },
      seconds: priorSeconds,
      machine: await cpuName(),
      finalLoss: loss,
      sha256,
    };
    await writeJsonAtomic(`${options.outDir}/pretrain.json`, record);
    await writeFileAtomic(`${options.outDir}/README.md`, baseModelCard(record));
    return record;
  } finally {
    model.dispose();
  }
}

/** Held-out bits per byte of `model` on `texts`, scored on the engine when it loads. */
export async function heldOutBits(
  model: GPT2LM,
  tokenizer: HFTokenizer,
  texts: string[],
): Promise<{ bitsPerByte: number; bytes: number; tokens: number }> {
  const engine = await openEngine(model.config, "auto");
  try {
    return await bitsPerByte(texts, onEngine(model, engine), tokenizer);
  } finally {
    await engine?.dispose();
  }
}

/** The model card (README.md) of a base-model folder. */
export function baseModelCard(record: BaseRecord): string {
  const r = record.recipe;
  const hours = (record.seconds / 3600).toFixed(1);
  return `---
library_name: rlgf
tags: [gpt2, imdb, rlgf]
---
# imdb-base: a small GPT-2 pretrained on IMDB reviews

The zero-shot policy of rlgf's default preset (\`imdb-small\`), made by \`deno task pretrain\`.

## Recipe
- GPT-2 architecture: ${r.nLayer} layers, width ${r.nEmbd}, ${r.nHead} heads, context ${r.nPositions}
  tokens; byte-level BPE tokenizer of ${r.vocabSize} tokens fitted to the first
  ${r.tokenizerReviews} training reviews.
- ${r.steps} AdamW steps of ${r.batchSize} random windows of ${r.nPositions} tokens
  (${((r.steps * r.batchSize * r.nPositions) / 1e6).toFixed(1)} M tokens), learning rate
  ${r.learningRate} after a ${r.warmupSteps}-step linear warm-up, linearly to 0 over the last
  ${Math.round(r.decayFraction * 100)} % of the steps; weight decay ${r.weightDecay}, gradient
  norm clipped at 1, seed ${r.seed}; gradients on ONNX Runtime.

## Data
IMDB (Maas et al. 2011): the task's train split (80 % of the 25,000 labelled training reviews,
\`imdbSplitIndices\`) and ${record.corpus.unlabelled} unlabelled reviews: ${record.corpus.reviews}
reviews, ${record.corpus.tokens} tokens (${record.corpus.bytesPerToken.toFixed(2)} bytes per
token). The validation reviews (the prompts runs are evaluated on), the test subset and the
held-out reviews below are not in it.

## Held-out numbers
- Bits per byte: **${record.heldOut.bitsPerByte.toFixed(3)}** on ${record.heldOut.reviews} held-out
  test reviews (the last ${record.heldOut.reviews} of the task's test shuffle, which no run uses;
  ${record.heldOut.bytes} bytes, ${record.heldOut.tokens} tokens; windows of ${r.nPositions} tokens,
  stride ${Math.floor(r.nPositions / 2)}).
- Last training loss: ${record.finalLoss.toFixed(3)} nats per token.
- Training time: ${hours} h over all sittings, last on ${record.machine}.

## Reproducing
\`deno task pretrain\` (the recipe above, \`IMDB_BASE_RECIPE\` in cli/imdb_base.ts) writes this
folder. It checkpoints every 250 steps and resumes from the last checkpoint, and a resumed run
gives bit-identical weights to an unbroken one on the same machine (cli/imdb_base_test.ts). On
another CPU, ONNX Runtime's kernels round differently and the weights differ in their last bits,
so the checksums below hold only on the machine that made them: a run from scratch on an Intel
Xeon measured 2.104 / 1.964 held-out bits per byte at steps 250 / 500 where the first run, on an
AMD EPYC, measured 2.099 / 1.960.

## Files
${BASE_FILES.map((name) => `- \`${name}\`: sha256 \`${record.sha256[name]}\``).join("\n")}
`;
}

/** Whether `dir` holds a finished base model (its `pretrain.json`). */
export async function hasBaseModel(dir: string): Promise<boolean> {
  return await exists(`${dir}/pretrain.json`);
}

/**
 * The imdb-small preset's models. The zero-shot policy is the IMDB base model
 * (`policy.source: "base"`: made by `deno task pretrain`, shipped in assets/imdb-base) or a
 * small GPT built here (`"build"`: a BPE tokenizer fitted to the reviews, then pretraining).
 * Built from the IMDB data and cached: our sentiment classifier (the reward), the BC guide
 * (the zero-shot policy fine-tuned on positive reviews' second halves) and, on request, the
 * strong guide (the base trained further on positive reviews). Each artefact is written
 * atomically into a cache folder keyed by the settings that shape it, so a second run, or a
 * run with other RL settings, reuses it.
 * @module
 */
import { Rng } from "../core/prng.ts";
import { loadCausalLM, saveCausalLM } from "../models/checkpoint.ts";
import { HFTokenizer } from "../models/tokenizer.ts";
import { ConfigError, InputError } from "../core/errors.ts";
import { exists } from "../core/fs.ts";
import { fileSha256 } from "./imdb_base.ts";
import { promptIds, type TokenGenerator, type Tokenizer } from "../models/types.ts";
import { SentimentClassifier, trainSentimentClassifier } from "../rewards/sentiment_classifier.ts";
import { imdbDataDir } from "../tasks/download.ts";
import { imdbPrompt, type ImdbReview, loadImdbSplit } from "../tasks/imdb.ts";
import {
  createImdbTask,
  IMDB_HELD_OUT_EVAL_REVIEWS,
  imdbSplitIndices,
  loadImdbHeldOut,
} from "../tasks/imdb_task.ts";
import { bitsPerByteMetric } from "../rewards/bits_per_byte.ts";
import type { RunConfig } from "./config.ts";
import { type ApiGuideEnv, loadExternalGuide } from "./guide_parts.ts";
import { imdbMetrics } from "./imdb_metrics.ts";
import type { TaskParts } from "./setup.ts";
import {
  cached,
  cachedBcGuide,
  cachedPretrained,
  cachedTokenizer,
  cacheKey,
  cacheRoot,
  guideBaselines,
  localDataDir,
  pretrain,
  taskGeneration,
  tokenStream,
  TRAINING_ROUTE,
} from "./_cache.ts";

/**
 * BC pairs from positive reviews: the spec's prompt (last `maxPrompt` tokens) and
 * the review's second half cut to `maxNew` tokens.
 * @param reviews training reviews (only positive ones are used)
 * @param tokenizer the policy's tokenizer
 * @param limits prompt and continuation lengths in tokens
 * @returns the pairs with a non-empty prompt and target
 */
export function imdbBcPairs(
  reviews: ImdbReview[],
  tokenizer: Tokenizer,
  limits: { maxPrompt: number; maxNew: number },
): { prompt: number[]; target: number[] }[] {
  return reviews.filter((r) => r.label === 1).map((review) => {
    const { prompt, reference } = imdbPrompt(review, tokenizer, limits.maxPrompt);
    return {
      prompt: promptIds(tokenizer, prompt, limits.maxPrompt),
      target: tokenizer.encode(reference).slice(0, limits.maxNew),
    };
  }).filter((pair) => pair.prompt.length > 0 && pair.target.length > 0);
}

/** Builds (or loads from the cache) the imdb-small task parts. */
export async function imdbSmallParts(
  config: RunConfig,
  _rng: Rng,
  api: ApiGuideEnv = {},
): Promise<TaskParts> {
  // The built models come from one fixed stream, not the run's seed: every seed (and every
  // algorithm) starts from the same zero-shot policy and guide, as with a published base model.
  const build = new Rng(0).child("imdb-small-build");
  if (config.policy.init === "bc" && config.guide.kind !== "bc") {
    throw new ConfigError(
      "policy.init",
      `"bc" starts the learner from the BC guide built here, but guide.kind is "${config.guide.kind}"`,
    );
  }
  const dataDir = await localDataDir(config.task.dataDir, "imdb") ?? await imdbDataDir();
  const p = config.policy;
  const root = `${cacheRoot()}/imdb-small`;
  // Read the data first, so a wrong data folder fails before anything is built. Only the train
  // part of the spec's 80/20 split is used to build anything: val prompts stay unseen.
  const all = await loadImdbSplit(dataDir, "train");
  const train = imdbSplitIndices(all.length, 0).train.map((i) => all[i]);

  const { tokenizer, pretrainedDir, pretrainedKey } = p.source === "base"
    ? await baseModel(config.policy.dir ?? SHIPPED_BASE_DIR)
    : await builtModel(config, root, train, build);
  const classifierPath = `${root}/sentiment-classifier-${cacheKey({ seed: 42 })}`;
  await cached(classifierPath, "sentiment classifier (reward)", async (tmp) => {
    const classifier = trainSentimentClassifier(
      train.map((r) => r.text),
      train.map((r) => r.label),
      {
        lambdas: [3e-6],
        maxIterations: 150,
        onProgress: (m) => console.error(`  classifier: ${m}`),
      },
    );
    await classifier.save(`${tmp}/classifier.bin`);
  });
  const classifier = await SentimentClassifier.load(`${classifierPath}/classifier.bin`);

  const generation = config.train.generation;
  const maxPrompt = config.train.maxPromptTokens;
  const guideDir = `${root}/bc-guide-${
    cacheKey({
      pretrained: pretrainedKey,
      steps: config.guide.bcSteps,
      lr: config.guide.bcLearningRate,
      maxPrompt,
      h: generation.maxNewTokens,
    })
  }`;
  if (config.guide.kind === "bc") {
    await cachedBcGuide(
      guideDir,
      "BC guide (fine-tuned on positive reviews)",
      pretrainedDir,
      () =>
        Promise.resolve(
          imdbBcPairs(train.slice(0, 8000), tokenizer, {
            maxPrompt,
            maxNew: generation.maxNewTokens,
          }),
        ),
      { steps: config.guide.bcSteps, learningRate: config.guide.bcLearningRate, rng: build },
    );
  }

  const strongDir = `${root}/strong-guide-${
    cacheKey({ pretrained: pretrainedKey, ...STRONG_GUIDE, route: TRAINING_ROUTE })
  }`;
  if (config.guide.kind === "strong") {
    if (p.source !== "base") {
      throw new ConfigError("guide.kind", '"strong" needs policy.source "base"');
    }
    await cachedStrongGuide(strongDir, pretrainedDir, train, tokenizer, build, classifier);
  }

  // BC+X as the paper warm-starts: the learner starts from the BC guide's weights
  const warm = config.policy.init === "bc";
  const learner = await loadCausalLM(warm ? guideDir : pretrainedDir);
  const owned: { dispose(): void }[] = [];
  let guide: TokenGenerator | null = null;
  if (config.guide.kind === "bc" || config.guide.kind === "strong") {
    const model = await loadCausalLM(config.guide.kind === "bc" ? guideDir : strongDir);
    owned.push(model);
    guide = model;
  } else {
    const external = await loadExternalGuide(config, tokenizer, learner.config.vocabSize, api);
    if (external) {
      guide = external.guide;
      owned.push(...external.owned);
    }
  }
  const reward = classifier.asReward();
  // Fluency: perplexity of the generations under the fixed pretrained model (spec "Tasks").
  const fixedLM = await loadCausalLM(pretrainedDir);
  const task = createImdbTask({
    dataDir,
    tokenizer,
    reward,
    metrics: imdbMetrics(reward, { model: fixedLM, tokenizer }),
    generation: taskGeneration(config.train),
  });
  return {
    task,
    tokenizer,
    learner,
    guide,
    reward,
    baselines: guideBaselines(config.guide.kind, guide),
    policyMetrics: bitsPerByteMetric(
      await loadImdbHeldOut(dataDir, IMDB_HELD_OUT_EVAL_REVIEWS),
      tokenizer,
    ),
    ...(warm ? { zeroShot: await loadCausalLM(pretrainedDir) } : {}),
    owned: [...owned, fixedLM],
    learnerDir: await Deno.realPath(warm ? guideDir : pretrainedDir),
  };
}

/** The base model shipped with the repository (made by `deno task pretrain`). */
export const SHIPPED_BASE_DIR = new URL("../assets/imdb-base", import.meta.url).pathname;

/**
 * The learner's starting point from a base-model folder (`policy.source: "base"`): its
 * tokenizer, and a cache key from its weights' checksum, so the guides built from it are
 * rebuilt when the weights change and reused wherever the folder lives.
 */
async function baseModel(
  dir: string,
): Promise<{ tokenizer: HFTokenizer; pretrainedDir: string; pretrainedKey: string }> {
  const weights = `${dir}/model.safetensors`;
  if (!await exists(weights)) {
    throw new InputError(
      "no base model here (model.safetensors is missing): make it with `deno task pretrain` " +
        "or set policy.dir to a GPT-2 folder",
      dir,
    );
  }
  const model = await loadCausalLM(dir); // checks config, weights and tokenizer together
  const tokenizer = model.tokenizer;
  model.dispose();
  if (!(tokenizer instanceof HFTokenizer)) {
    throw new InputError("no tokenizer.json: the base model folder must hold its tokenizer", dir);
  }
  return { tokenizer, pretrainedDir: dir, pretrainedKey: await fileSha256(weights) };
}

/** A tokenizer fitted here and a small GPT pretrained here (`policy.source: "build"`). */
async function builtModel(
  config: RunConfig,
  root: string,
  train: ImdbReview[],
  build: Rng,
): Promise<{ tokenizer: HFTokenizer; pretrainedDir: string; pretrainedKey: string }> {
  const p = config.policy;
  const tokenizerDir = `${root}/tokenizer-${cacheKey({ v: p.vocabSize })}`;
  const tokenizer = await cachedTokenizer(
    tokenizerDir,
    p.vocabSize,
    () => Promise.resolve(train.slice(0, 8000).map((r) => r.text)),
  );

  const pretrainedDir = await cachedPretrained(
    root,
    tokenizerDir,
    p,
    tokenizer,
    () => Promise.resolve(train.slice(0, 6000).map((r) => r.text)),
    build,
  );

  return { tokenizer, pretrainedDir, pretrainedKey: pretrainedDir };
}

/**
 * The strong guide's recipe: the base model trained further as a language model on the
 * sentences of positive training reviews that the reward model finds most positive
 * (P(positive) ≥ `minScore`, each review keeping its kept sentences in order), so it writes
 * glowing sentences whatever the prompt. Measured (AMD EPYC, seed 0, sentiment of the sampled
 * continuations; zero-shot 0.471): this recipe 0.756 at perplexity 115.5 (zero-shot 105.3);
 * whole positive reviews 0.606; whole reviews scoring ≥ 0.98 0.648; ≥ 0.995 0.634 at
 * perplexity 162.7 (608 reviews: it memorises).
 */
export const STRONG_GUIDE = Object.freeze({
  steps: 1500,
  batchSize: 32,
  learningRate: 5e-4,
  minScore: 0.9,
  unit: "sentence",
});

/**
 * Each text reduced to its sentences scoring at least `minScore`; texts left empty are dropped.
 * Sentences end at `.`, `!` or `?` followed by space, or at an HTML line break (IMDB's `<br />`).
 * @param texts the reviews
 * @param score P(positive) per text, e.g. a sentiment classifier's `predict`
 * @param minScore the least score a kept sentence has
 */
export function positiveSentences(
  texts: string[],
  score: (texts: string[]) => number[],
  minScore: number,
): string[] {
  const split = texts.map((t) =>
    t.split(/(?<=[.!?])\s+|<br\s*\/?>/i).map((s) => s.trim()).filter((s) => s.length > 0)
  );
  const scores = score(split.flat());
  let next = 0;
  return split
    .map((sentences) => sentences.filter(() => scores[next++] >= minScore).join(" "))
    .filter((t) => t.length > 0);
}

/** Builds (or reuses) the strong guide in `dir` from the base model in `baseDir`. */
async function cachedStrongGuide(
  dir: string,
  baseDir: string,
  train: ImdbReview[],
  tokenizer: HFTokenizer,
  build: Rng,
  classifier: SentimentClassifier,
): Promise<void> {
  await cached(dir, "strong guide (the base model trained on positive reviews)", async (tmp) => {
    const model = await loadCausalLM(baseDir);
    try {
      const labelled = train.filter((r) => r.label === 1).map((r) => r.text);
      const positives = positiveSentences(
        labelled,
        (texts) => classifier.predict(texts),
        STRONG_GUIDE.minScore,
      );
      console.error(
        `strong guide: ${positives.length} of ${labelled.length} positive reviews keep sentences ` +
          `scoring ≥ ${STRONG_GUIDE.minScore} (${positives.join(" ").length} characters)`,
      );
      await pretrain(model, tokenStream(positives, tokenizer), {
        steps: STRONG_GUIDE.steps,
        batchSize: STRONG_GUIDE.batchSize,
        window: model.config.nPositions,
        learningRate: STRONG_GUIDE.learningRate,
        rng: build.child("strong-guide"),
        label: "strong guide",
      });
      await saveCausalLM(model, tmp);
    } finally {
      model.dispose();
    }
  });
}

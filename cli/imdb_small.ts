/**
 * The embedded default's models, built from the IMDB data and cached: a BPE
 * tokenizer fitted to the reviews, our sentiment classifier (the reward), a small
 * GPT pretrained on review text (the zero-shot policy), and the BC guide (that
 * GPT fine-tuned on positive reviews' second halves). Each artefact is written
 * atomically into a cache folder keyed by the settings that shape it, so a second
 * run, or a run with other RL settings, reuses it.
 * @module
 */
import type { Rng } from "../core/prng.ts";
import { saveBpeTokenizer, trainBpe } from "../models/bpe.ts";
import { loadCausalLM, saveCausalLM } from "../models/checkpoint.ts";
import { createGPT2 } from "../models/gpt2.ts";
import { loadTokenizer } from "../models/tokenizer.ts";
import { outputPerplexityMetric } from "../rewards/perplexity.ts";
import { SentimentClassifier, trainSentimentClassifier } from "../rewards/sentiment_classifier.ts";
import { imdbDataDir } from "../tasks/download.ts";
import { imdbPrompt, type ImdbReview, loadImdbSplit } from "../tasks/imdb.ts";
import { createImdbTask, imdbSplitIndices } from "../tasks/imdb_task.ts";
import type { RunConfig } from "./config.ts";
import type { TaskParts } from "./setup.ts";
import {
  cached,
  cacheKey,
  cacheRoot,
  fineTune,
  localDataDir,
  pretrain,
  tokenStream,
} from "./_cache.ts";

/** Builds (or loads from the cache) the imdb-small task parts. */
export async function imdbSmallParts(config: RunConfig, rng: Rng): Promise<TaskParts> {
  const dataDir = await localDataDir(config.task.dataDir, "imdb") ?? await imdbDataDir();
  const p = config.policy;
  const root = `${cacheRoot()}/imdb-small`;
  // Read the data first, so a wrong data folder fails before anything is built.
  const reviews: ImdbReview[] = await loadImdbSplit(dataDir, "train");
  const trainReviews = () => Promise.resolve(reviews);

  // Only the train part of the spec's 80/20 split is used to build anything.
  const trainOnly = async () => {
    const all = await trainReviews();
    const split = imdbSplitIndices(all.length, 25000);
    return split.train.map((i) => all[i]);
  };

  const tokenizerDir = `${root}/tokenizer-${cacheKey({ v: p.vocabSize, seed: config.seed })}`;
  await cached(tokenizerDir, `BPE tokenizer (vocabulary ${p.vocabSize})`, async (tmp) => {
    const texts = (await trainOnly()).slice(0, 8000).map((r) => r.text);
    await saveBpeTokenizer(trainBpe(texts, { vocabSize: p.vocabSize }), tmp);
  });
  const tokenizer = await loadTokenizer(tokenizerDir);

  const classifierPath = `${root}/sentiment-classifier-${cacheKey({ seed: 42 })}`;
  await cached(classifierPath, "sentiment classifier (reward)", async (tmp) => {
    const all = await trainOnly();
    const classifier = trainSentimentClassifier(all.map((r) => r.text), all.map((r) => r.label), {
      lambdas: [3e-6],
      maxIterations: 150,
      onProgress: (m) => console.error(`  classifier: ${m}`),
    });
    await classifier.save(`${tmp}/classifier.bin`);
  });
  const classifier = await SentimentClassifier.load(`${classifierPath}/classifier.bin`);

  const shape = {
    vocabSize: tokenizer.vocabSize,
    nPositions: p.nPositions,
    nEmbd: p.nEmbd,
    nLayer: p.nLayer,
    nHead: p.nHead,
    bosTokenId: tokenizer.eosTokenId,
    eosTokenId: tokenizer.eosTokenId,
  };
  const pretrainedDir = `${root}/pretrained-${
    cacheKey({
      tokenizerDir,
      shape,
      steps: p.pretrainSteps,
      batch: p.pretrainBatchSize,
      lr: p.pretrainLearningRate,
      seed: config.seed,
    })
  }`;
  await cached(
    pretrainedDir,
    `pretrained GPT (${p.nLayer} layers, width ${p.nEmbd})`,
    async (tmp) => {
      const model = createGPT2(shape, rng.child("pretrain-init"));
      try {
        const texts = (await trainOnly()).slice(0, 6000).map((r) => r.text);
        const stream = tokenStream(texts, tokenizer);
        pretrain(model, stream, {
          steps: p.pretrainSteps,
          batchSize: p.pretrainBatchSize,
          window: Math.min(p.nPositions, 64),
          learningRate: p.pretrainLearningRate,
          rng: rng.child("pretrain"),
          label: "pretrain",
        });
        model.tokenizer = tokenizer;
        await saveCausalLM(model, tmp);
      } finally {
        model.dispose();
      }
    },
  );

  const generation = config.train.generation;
  const maxPrompt = config.train.maxPromptTokens;
  const guideDir = `${root}/bc-guide-${
    cacheKey({
      pretrainedDir,
      steps: config.guide.bcSteps,
      lr: config.guide.bcLearningRate,
      maxPrompt,
      h: generation.maxNewTokens,
    })
  }`;
  if (config.guide.kind === "bc") {
    await cached(guideDir, "BC guide (fine-tuned on positive reviews)", async (tmp) => {
      const model = await loadCausalLM(pretrainedDir);
      try {
        const positives = (await trainOnly()).filter((r) => r.label === 1).slice(0, 4000);
        const pairs = positives.map((review) => {
          const { prompt, reference } = imdbPrompt(review, tokenizer, maxPrompt);
          return {
            prompt: tokenizer.encode(prompt),
            target: tokenizer.encode(reference).slice(0, generation.maxNewTokens),
          };
        }).filter((pair) => pair.prompt.length > 0 && pair.target.length > 0);
        fineTune(model, pairs, {
          steps: config.guide.bcSteps,
          batchSize: 16,
          learningRate: config.guide.bcLearningRate,
          rng: rng.child("bc-guide"),
          label: "bc guide",
        });
        await saveCausalLM(model, tmp);
      } finally {
        model.dispose();
      }
    });
  }

  const learner = await loadCausalLM(pretrainedDir);
  const guide = config.guide.kind === "bc" ? await loadCausalLM(guideDir) : null;
  const reward = classifier.asReward();
  // Fluency: perplexity of the generations under the fixed pretrained model (spec "Tasks").
  const fixedLM = await loadCausalLM(pretrainedDir);
  const perplexity = outputPerplexityMetric(fixedLM, tokenizer);
  const task = createImdbTask({
    dataDir,
    tokenizer,
    reward,
    metrics: async (batch) => {
      const scores = await reward(batch);
      return {
        "sentiment/mean": scores.reduce((a, b) => a + b, 0) / Math.max(1, scores.length),
        ...await perplexity(batch),
      };
    },
    generation: {
      maxPromptTokens: maxPrompt,
      maxNewTokens: generation.maxNewTokens,
      minNewTokens: generation.minNewTokens,
      topK: generation.topK,
    },
  });
  return {
    task,
    tokenizer,
    learner,
    guide,
    reward,
    baselines: guide ? [{ name: "BC guide", policy: guide }] : [],
    owned: guide ? [guide, fixedLM] : [fixedLM],
  };
}

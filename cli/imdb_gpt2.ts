/**
 * The imdb-gpt2 and imdb-llama presets' parts, the paper's IMDB setting: the policy is a
 * decoder-only Hugging Face folder or hub id (`policy.dir`: GPT-2, or the Llama family on the
 * engine; prompts through its chat template with `task.chatTemplate`), the reward a local sentiment
 * model (an ONNX text-classification folder, or our classifier's file), the
 * guide another folder, an ONNX folder, a completions API, or BC (a copy of
 * the policy fine-tuned on positive reviews, cached). The metrics add the
 * perplexity of the generations under the untouched policy.
 * @module
 */
import { ConfigError, InputError } from "../core/errors.ts";
import type { Rng } from "../core/prng.ts";
import { loadPolicy, type PolicyModel } from "../models/t5_checkpoint.ts";
import { T5LM } from "../models/t5.ts";
import { type StandalonePolicy, standalonePolicy } from "../models/engine/open.ts";
import { HFTokenizer } from "../models/tokenizer.ts";
import type { CausalScorer, TokenGenerator, Tokenizer } from "../models/types.ts";
import { SentimentClassifier } from "../rewards/sentiment_classifier.ts";
import { OnnxSentimentModel } from "../rewards/sentiment_onnx.ts";
import type { RewardFunction } from "../rewards/types.ts";
import { imdbDataDir } from "../tasks/download.ts";
import { loadImdbSplit } from "../tasks/imdb.ts";
import {
  createImdbTask,
  IMDB_HELD_OUT_EVAL_REVIEWS,
  imdbSplitIndices,
  loadImdbHeldOut,
} from "../tasks/imdb_task.ts";
import { bitsPerByteMetric } from "../rewards/bits_per_byte.ts";
import type { RunConfig } from "./config.ts";
import { type ApiGuideEnv, loadExternalGuide, requireFolder } from "./guide_parts.ts";
import { imdbMetrics } from "./imdb_metrics.ts";
import type { TaskParts } from "./setup.ts";
import {
  cachedBcGuide,
  cacheKey,
  cacheRoot,
  guideBaselines,
  localDataDir,
  taskGeneration,
  TRAINING_ROUTE,
} from "./_cache.ts";
import { imdbBcPairs } from "./imdb_small.ts";

/** A loaded sentiment reward and what to free with it. */
export interface SentimentReward {
  reward: RewardFunction;
  /** Frees the model (a no-op for our classifier). */
  dispose(): void;
}

/**
 * Loads a sentiment reward: an ONNX text-classification folder (`kind` "onnx")
 * or a file saved by {@linkcode SentimentClassifier.save} (`kind` "classifier").
 * @param kind "onnx" or "classifier"
 * @param path the folder or file
 * @param field the config field or flag naming `path`, for errors
 * @returns the reward
 * @throws {ConfigError} naming `field` when the path is unset or missing
 */
export async function loadSentimentReward(
  kind: string,
  path: string | null,
  field = "reward.path",
): Promise<SentimentReward> {
  if (kind === "onnx") {
    const dir = await requireFolder(field, path, "an ONNX text-classification model");
    const model = await OnnxSentimentModel.load(dir);
    return { reward: model.asReward(), dispose: () => void model.dispose() };
  }
  if (kind === "classifier") {
    if (path === null || path === "") {
      throw new ConfigError(field, "must be set to a saved sentiment classifier file");
    }
    try {
      await Deno.stat(path);
    } catch {
      throw new ConfigError(field, `file "${path}" does not exist (expected a saved classifier)`);
    }
    const classifier = await SentimentClassifier.load(path);
    return { reward: classifier.asReward(), dispose: () => {} };
  }
  throw new ConfigError(
    "reward.kind",
    `expected "onnx" or "classifier" for an IMDB reward, got ${JSON.stringify(kind)}`,
  );
}

/** What identifies a model folder's weights for a cache key: real path, size and time. */
async function weightsIdentity(dir: string): Promise<unknown> {
  const path = await Deno.realPath(dir);
  for (const name of ["model.safetensors", "model.safetensors.index.json"]) {
    try {
      const info = await Deno.stat(`${path}/${name}`);
      return { path, name, size: info.size, mtime: info.mtime?.getTime() ?? null };
    } catch {
      // try the next layout
    }
  }
  return { path };
}

/**
 * A decoder-only policy folder (GPT-2 or the Llama family).
 * @throws {InputError} naming the folder's config.json when it holds a T5
 */
async function loadDecoderPolicy(dir: string): Promise<Exclude<PolicyModel, T5LM>> {
  const model = await loadPolicy(dir);
  if (model instanceof T5LM) {
    model.dispose();
    throw new InputError(
      'Field "model_type" is "t5": the IMDB task continues a review, which needs a decoder-only ' +
        "model (gpt2, llama, qwen2, mistral)",
      `${dir}/config.json`,
    );
  }
  return model;
}

/**
 * The policy's tokenizer, framed by its chat template when `task.chatTemplate` asks for it.
 * @throws {InputError} naming the folder when it has no tokenizer, or no chat template asked for
 */
function policyTokenizer(model: PolicyModel, dir: string, chat: boolean): Tokenizer {
  const tokenizer = model.tokenizer;
  if (!tokenizer) {
    throw new InputError("Missing tokenizer.json: the policy folder must hold its tokenizer", dir);
  }
  if (!chat) return tokenizer;
  if (!(tokenizer instanceof HFTokenizer)) {
    throw new InputError("task.chatTemplate needs a Hugging Face tokenizer folder", dir);
  }
  return tokenizer.withChatTemplate();
}

/**
 * Builds the imdb-gpt2 (and imdb-llama) task parts.
 * @param config the run config (`policy.dir`, `reward`, `guide`, generation)
 * @param rng the run's random stream (BC batches)
 * @returns the task, the policy's tokenizer, the policy, guide, reward and baselines
 * @throws {ConfigError} naming `policy.dir`, `reward.path` or a `guide` field when unset or missing
 */
export async function imdbGpt2Parts(
  config: RunConfig,
  rng: Rng,
  api: ApiGuideEnv = {},
): Promise<TaskParts> {
  const policyDir = await requireFolder(
    "policy.dir",
    config.policy.dir,
    "a decoder-only model: GPT-2 or Llama family (config.json, model.safetensors, tokenizer.json)",
  );
  const owned: { dispose(): void }[] = [];
  const dispose = () => owned.forEach((o) => o.dispose());
  try {
    const learner = await loadDecoderPolicy(policyDir);
    owned.push(learner);
    const tokenizer = policyTokenizer(learner, policyDir, config.task.chatTemplate);
    const sentiment = await loadSentimentReward(config.reward.kind, config.reward.path);
    owned.push(sentiment);
    const dataDir = await localDataDir(config.task.dataDir, "imdb") ?? await imdbDataDir();
    const generation = config.train.generation;
    const maxPrompt = config.train.maxPromptTokens;

    let guide: TokenGenerator | null = null;
    if (config.guide.kind === "bc") {
      const guideDir = `${cacheRoot()}/imdb-gpt2/bc-guide-${
        cacheKey({
          policy: await weightsIdentity(policyDir),
          steps: config.guide.bcSteps,
          lr: config.guide.bcLearningRate,
          maxPrompt,
          h: generation.maxNewTokens,
          seed: config.seed,
          route: TRAINING_ROUTE,
          // chat-framed prompts make other BC pairs
          ...(config.task.chatTemplate ? { chat: true } : {}),
        })
      }`;
      await cachedBcGuide(
        guideDir,
        "BC guide (the policy fine-tuned on positive reviews)",
        policyDir,
        async () => {
          const reviews = await loadImdbSplit(dataDir, "train");
          // Only the train part of the spec's 80/20 split: val prompts stay unseen.
          const train = imdbSplitIndices(reviews.length, 0).train.map((i) => reviews[i]);
          return imdbBcPairs(train, tokenizer, { maxPrompt, maxNew: generation.maxNewTokens });
        },
        { steps: config.guide.bcSteps, learningRate: config.guide.bcLearningRate, rng },
      );
      const model = await standalonePolicy(await loadPolicy(guideDir));
      owned.push(model);
      guide = model.policy;
    } else {
      const external = await loadExternalGuide(config, tokenizer, learner.config.vocabSize, api);
      if (external) {
        guide = external.guide;
        owned.push(...external.owned);
      }
    }

    // Perplexity under the untouched policy: loaded on the first metrics call only.
    let reference: StandalonePolicy | null = null;
    owned.push({ dispose: () => reference?.dispose() });
    const task = createImdbTask({
      dataDir,
      tokenizer,
      reward: sentiment.reward,
      metrics: imdbMetrics(sentiment.reward, {
        model: async () => {
          reference ??= await standalonePolicy(await loadDecoderPolicy(policyDir));
          return reference.policy as CausalScorer; // decoder-only: GPT-2 or Llama
        },
        tokenizer,
      }),
      generation: taskGeneration(config.train),
    });
    return {
      task,
      tokenizer,
      learner,
      guide,
      reward: sentiment.reward,
      baselines: guideBaselines(config.guide.kind, guide),
      policyMetrics: bitsPerByteMetric(
        await loadImdbHeldOut(dataDir, IMDB_HELD_OUT_EVAL_REVIEWS),
        tokenizer,
      ),
      // The learner is freed by the setup, everything else here.
      owned: owned.filter((o) => o !== learner),
      learnerDir: await Deno.realPath(policyDir),
    };
  } catch (error) {
    dispose();
    throw error;
  }
}

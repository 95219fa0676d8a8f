/**
 * The commongen-small preset's models, built from the CommonGen data and
 * cached, as the paper's CommonGen experiments use T5: a byte-level BPE
 * tokenizer with T5's special tokens (`</s>`, `<pad>`, span sentinels) fitted
 * to the training prompts and targets; a small T5 pretrained by span
 * corruption on the training sentences (the zero-shot policy); and the BC
 * guide, that T5 fine-tuned on (prompt, target) pairs in the paper's prompt
 * format. The learner starts from the zero-shot model or, with
 * `policy.init: "bc"` (the preset's default, as the paper warm-starts every
 * CommonGen run), from the BC guide's weights. The reward is CIDEr-D, SPIDEr
 * when `reward.path` names the SPICE jar; the metrics are BLEU, METEOR,
 * ROUGE-L, CIDEr-D, concept coverage (SPICE and SPIDEr with the jar,
 * BERTScore with `task.bertScoreDir`).
 * @module
 */
import { ConfigError } from "../core/errors.ts";
import { Rng } from "../core/prng.ts";
import { createT5 } from "../models/t5.ts";
import { loadSeq2SeqLM } from "../models/t5_checkpoint.ts";
import type { Tokenizer } from "../models/types.ts";
import { loadBertScorer } from "../rewards/bertscore_model.ts";
import { captionMetrics } from "../rewards/caption_metrics.ts";
import type { SpiceOptions } from "../rewards/spice.ts";
import { spiderReward } from "../rewards/spider.ts";
import { commonGenPrompt, type ConceptSet, loadCommonGenSplit } from "../tasks/commongen.ts";
import { createCommonGenTask, withCoverageBonus } from "../tasks/commongen_task.ts";
import { DATA_DIR_ENV, resolveDataDir } from "../tasks/data_dir.ts";
import { spanCorruption } from "../tasks/span_corruption.ts";
import type { RunConfig } from "./config.ts";
import { type ApiGuideEnv, loadExternalGuide, requireFolder } from "./guide_parts.ts";
import type { TaskParts } from "./setup.ts";
import {
  cachedBcGuide,
  cachedTokenizer,
  cachedTrained,
  cacheKey,
  cacheRoot,
  guideBaselines,
  LOCAL_DATA_DIRS,
  supervisedTraining,
  taskGeneration,
  TRAINING_ROUTE,
  warmupDecay,
} from "./_cache.ts";

/** The span-corruption sentinels the tokenizer holds (CommonGen sentences need few). */
export const SENTINEL_TOKENS: readonly string[] = Array.from(
  { length: 16 },
  (_, i) => `<extra_id_${i}>`,
);

/**
 * The data folder of a CommonGen run: `task.dataDir`, else `RLGF_DATA_DIR`, else
 * the first of `./data` and `../shared/data` holding `commongen/`. CommonGen has
 * no download here, so finding none is an error.
 * @param dataDir `task.dataDir` (or the --data flag), null when unset
 * @returns the folder
 * @throws {ConfigError} naming `task.dataDir` when no folder is given
 */
export function commonGenDataDir(dataDir: string | null): string {
  const dir = resolveDataDir(dataDir ?? undefined) ?? LOCAL_DATA_DIRS.find(holdsCommonGen);
  if (!dir) {
    throw new ConfigError(
      "task.dataDir",
      `no CommonGen data folder: pass --data DIR or set ${DATA_DIR_ENV}=DIR ` +
        `(DIR holding commongen/train.jsonl, validation.jsonl, test.jsonl)`,
    );
  }
  return dir;
}

function holdsCommonGen(dir: string): boolean {
  try {
    return Deno.statSync(`${dir}/commongen`).isDirectory;
  } catch {
    return false;
  }
}

/**
 * A BC pair per (concept set, target): the prompt's last `maxPrompt` tokens
 * (the encoder input), and the target plus EOS, cut to `maxNew` tokens (no EOS
 * when cut, as the row would not have ended there).
 * @param sets the concept sets
 * @param tokenizer the learner's tokenizer
 * @param limits prompt and continuation lengths in tokens
 * @returns the pairs with a non-empty prompt and target
 */
export function commonGenPairs(
  sets: ConceptSet[],
  tokenizer: Tokenizer,
  limits: { maxPrompt: number; maxNew: number },
): { prompt: number[]; target: number[] }[] {
  const pairs: { prompt: number[]; target: number[] }[] = [];
  for (const set of sets) {
    const prompt = tokenizer.encode(commonGenPrompt(set.concepts)).slice(-limits.maxPrompt);
    for (const reference of set.references) {
      const ids = tokenizer.encode(reference);
      const target = ids.length < limits.maxNew
        ? [...ids, tokenizer.eosTokenId]
        : ids.slice(0, limits.maxNew);
      if (prompt.length > 0 && ids.length > 0) pairs.push({ prompt, target });
    }
  }
  return pairs;
}

/**
 * The SPICE setup of a run: `reward.path` names the jar (with its lib/ folder), null leaves
 * SPICE out (CIDEr-D alone).
 */
function spiceOf(config: RunConfig): SpiceOptions | null {
  return config.reward.path ? { jarPath: config.reward.path } : null;
}

/**
 * Builds (or loads from the cache) the commongen-small task parts.
 * @param config the run config (policy shape, pretraining and BC settings, generation)
 * @param _rng the run's random stream (unused: the cached models come from a fixed build stream)
 * @returns the task, tokenizer, learner (zero-shot, or the BC guide's copy), guide, reward and baselines
 * @throws {ConfigError} for a policy that is not a built T5
 */
export async function commonGenSmallParts(
  config: RunConfig,
  _rng: Rng,
  api: ApiGuideEnv = {},
): Promise<TaskParts> {
  const p = config.policy;
  if (p.architecture !== "t5") {
    throw new ConfigError(
      "policy.architecture",
      `commongen-small builds a T5, as the paper's CommonGen runs use; got "${p.architecture}"`,
    );
  }
  if (p.nEmbd % p.nHead !== 0) {
    throw new ConfigError(
      "policy.nHead",
      `${p.nHead} heads do not divide the width policy.nEmbd ${p.nEmbd}`,
    );
  }
  if (p.init === "bc" && config.guide.kind !== "bc") {
    throw new ConfigError(
      "policy.init",
      `"bc" starts the learner from the BC guide built here, but guide.kind is "${config.guide.kind}"`,
    );
  }
  // The built models come from one fixed stream, not the run's seed: every seed (and every
  // algorithm) starts from the same zero-shot policy and guide, as with a published base model.
  const build = new Rng(0).child("commongen-small-build");
  const dataDir = commonGenDataDir(config.task.dataDir);
  const root = `${cacheRoot()}/commongen-small`;
  let trainSets: ConceptSet[] | null = null;
  const train = async () => trainSets ??= await loadCommonGenSplit(dataDir, "train");
  const sentences = async () => (await train()).flatMap((set) => set.references);

  const tokenizerDir = `${root}/t5-tokenizer-${cacheKey({ v: p.vocabSize, s: SENTINEL_TOKENS })}`;
  const tokenizer = await cachedTokenizer(
    tokenizerDir,
    p.vocabSize,
    async () => [
      ...(await train()).map((set) => commonGenPrompt(set.concepts)),
      ...await sentences(),
    ],
    { eosToken: "</s>", padToken: "<pad>", extraTokens: [...SENTINEL_TOKENS] },
  );
  const sentinels = SENTINEL_TOKENS.map((token) => tokenizer.encode(token)[0]);

  const shape = {
    vocabSize: tokenizer.vocabSize,
    dModel: p.nEmbd,
    dKv: p.nEmbd / p.nHead,
    numHeads: p.nHead,
    dFf: p.nInner || 4 * p.nEmbd,
    numLayers: p.nLayer,
    numDecoderLayers: p.nLayer,
    padTokenId: tokenizer.padTokenId,
    eosTokenId: tokenizer.eosTokenId,
    decoderStartTokenId: tokenizer.padTokenId,
  };
  const pretrainedDir = `${root}/t5-pretrained-${
    cacheKey({
      tokenizerDir,
      shape,
      steps: p.pretrainSteps,
      batch: p.pretrainBatchSize,
      lr: p.pretrainLearningRate,
      route: TRAINING_ROUTE,
    })
  }`;
  await cachedTrained(
    pretrainedDir,
    `pretrained T5 (${p.nLayer}+${p.nLayer} layers, width ${p.nEmbd}, span corruption)`,
    () => createT5(shape, build.child("pretrain-init")),
    async (model) => {
      const texts = (await sentences()).map((text) => tokenizer.encode(text))
        .filter((ids) => ids.length >= 2);
      await supervisedTraining(model, (rng) => {
        const rows = Array.from(
          { length: p.pretrainBatchSize },
          () =>
            spanCorruption(texts[rng.int(texts.length)], rng, {
              sentinels,
              eosTokenId: tokenizer.eosTokenId,
            }),
        );
        return { prompts: rows.map((r) => r.prompt), targets: rows.map((r) => r.target) };
      }, {
        steps: p.pretrainSteps,
        learningRate: p.pretrainLearningRate,
        schedule: warmupDecay,
        weightDecay: 0.01,
        rng: build.child("pretrain"),
        label: "pretrain (span corruption)",
      });
    },
    tokenizer,
  );

  const generation = config.train.generation;
  const maxPrompt = config.train.maxPromptTokens;
  let guide = null;
  let guideDir: string | null = null;
  if (config.guide.kind === "bc") {
    guideDir = `${root}/t5-bc-guide-${
      cacheKey({
        pretrainedDir,
        steps: config.guide.bcSteps,
        lr: config.guide.bcLearningRate,
        batch: p.pretrainBatchSize,
        maxPrompt,
        h: generation.maxNewTokens,
      })
    }`;
    await cachedBcGuide(
      guideDir,
      "BC guide (T5 fine-tuned on CommonGen targets)",
      pretrainedDir,
      async () =>
        commonGenPairs(await train(), tokenizer, { maxPrompt, maxNew: generation.maxNewTokens }),
      {
        steps: config.guide.bcSteps,
        learningRate: config.guide.bcLearningRate,
        rng: build,
        batchSize: p.pretrainBatchSize,
        schedule: warmupDecay,
      },
    );
  }
  const { task, reward, owned } = await commonGenTaskParts(config, dataDir);
  const learner = await loadSeq2SeqLM(p.init === "bc" ? guideDir! : pretrainedDir);
  try {
    if (guideDir) {
      const model = await loadSeq2SeqLM(guideDir);
      guide = model;
      owned.push(model);
    } else {
      const external = await loadExternalGuide(config, tokenizer, tokenizer.vocabSize, api);
      if (external) {
        guide = external.guide;
        owned.push(...external.owned);
      }
    }
    return {
      task,
      reward,
      tokenizer,
      learner,
      // When the learner starts from the guide, the zero-shot baseline is still the pretrained T5.
      ...(p.init === "bc" ? { zeroShot: await loadSeq2SeqLM(pretrainedDir) } : {}),
      guide,
      baselines: guideBaselines(config.guide.kind, guide),
      owned,
    };
  } catch (error) {
    learner.dispose();
    for (const o of owned) o.dispose();
    throw error;
  }
}

/**
 * The CommonGen task with the run's reward and metrics: CIDEr-D (SPIDEr with the SPICE jar of
 * `reward.path`), and BERTScore when `task.bertScoreDir` names a BERT folder.
 * @param config the run config
 * @param dataDir the data folder
 * @returns the task, its reward, and the BERTScore model to free (if any)
 */
export async function commonGenTaskParts(config: RunConfig, dataDir: string) {
  const spice = spiceOf(config);
  const reward = withCoverageBonus(spiderReward({ spice }), config.reward.coverageWeight);
  const dir = config.task.bertScoreDir;
  const bertScorer = dir
    ? await loadBertScorer({
      modelDir: await requireFolder("task.bertScoreDir", dir, "a BERT model"),
    })
    : null;
  const task = createCommonGenTask({
    dataDir,
    reward,
    metrics: captionMetrics({ spice, bertScorer }),
    generation: taskGeneration(config.train),
  });
  const owned: { dispose(): void }[] = bertScorer
    ? [{ dispose: () => void bertScorer.dispose() }]
    : [];
  return { task, reward, owned };
}

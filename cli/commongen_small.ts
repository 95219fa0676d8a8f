/**
 * The commongen-small preset's models, built from the CommonGen data and
 * cached: a BPE tokenizer fitted to the prompts and targets, a small GPT
 * pretrained on "prompt target" lines (so the zero-shot policy already knows
 * the format and where a sentence ends), and the BC guide (that GPT fine-tuned
 * on (prompt, target) pairs). The reward is SPIDEr-style with SPICE off
 * (CIDEr-D only: SPICE needs Java and its jar); the metrics are BLEU, METEOR,
 * ROUGE-L and CIDEr-D.
 * @module
 */
import { ConfigError } from "../core/errors.ts";
import { Rng } from "../core/prng.ts";
import { loadCausalLM } from "../models/checkpoint.ts";
import type { Tokenizer } from "../models/types.ts";
import { captionMetrics } from "../rewards/caption_metrics.ts";
import { spiderReward } from "../rewards/spider.ts";
import { commonGenPrompt, type ConceptSet, loadCommonGenSplit } from "../tasks/commongen.ts";
import { createCommonGenTask } from "../tasks/commongen_task.ts";
import { DATA_DIR_ENV, resolveDataDir } from "../tasks/data_dir.ts";
import type { RunConfig } from "./config.ts";
import { loadExternalGuide } from "./guide_parts.ts";
import type { TaskParts } from "./setup.ts";
import {
  cachedBcGuide,
  cachedPretrained,
  cachedTokenizer,
  cacheKey,
  cacheRoot,
  guideBaselines,
  LOCAL_DATA_DIRS,
  taskGeneration,
} from "./_cache.ts";

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
 * A BC pair per (concept set, target): the prompt's last `maxPrompt` tokens, and
 * " target" plus EOS, cut to `maxNew` tokens (no EOS when cut, as the row would
 * not have ended there).
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
      const ids = tokenizer.encode(` ${reference}`);
      const target = ids.length < limits.maxNew
        ? [...ids, tokenizer.eosTokenId]
        : ids.slice(0, limits.maxNew);
      if (prompt.length > 0 && ids.length > 0) pairs.push({ prompt, target });
    }
  }
  return pairs;
}

/**
 * Builds (or loads from the cache) the commongen-small task parts.
 * @param config the run config (policy shape, pretraining and BC settings, generation)
 * @param _rng the run's random stream (unused: the cached models come from a fixed build stream)
 * @returns the task, tokenizer, zero-shot learner, guide, reward and baselines
 */
export async function commonGenSmallParts(config: RunConfig, _rng: Rng): Promise<TaskParts> {
  // The built models come from one fixed stream, not the run's seed: every seed (and every
  // algorithm) starts from the same zero-shot policy and guide, as with a published base model.
  const build = new Rng(0).child("commongen-small-build");
  const dataDir = commonGenDataDir(config.task.dataDir);
  const p = config.policy;
  const root = `${cacheRoot()}/commongen-small`;
  let trainSets: ConceptSet[] | null = null;
  const train = async () => trainSets ??= await loadCommonGenSplit(dataDir, "train");
  const lines = async () =>
    (await train()).flatMap((set) => {
      const prompt = commonGenPrompt(set.concepts);
      return set.references.map((reference) => `${prompt} ${reference}`);
    });

  const tokenizerDir = `${root}/tokenizer-${cacheKey({ v: p.vocabSize })}`;
  const tokenizer = await cachedTokenizer(tokenizerDir, p.vocabSize, lines);
  // Whole "prompt target<eos>" lines: the model learns the format and to stop.
  const pretrainedDir = await cachedPretrained(root, tokenizerDir, p, tokenizer, lines, build);

  const generation = config.train.generation;
  const maxPrompt = config.train.maxPromptTokens;
  const owned: { dispose(): void }[] = [];
  const learner = await loadCausalLM(pretrainedDir);
  let guide = null;
  try {
    if (config.guide.kind === "bc") {
      const guideDir = `${root}/bc-guide-${
        cacheKey({
          pretrainedDir,
          steps: config.guide.bcSteps,
          lr: config.guide.bcLearningRate,
          maxPrompt,
          h: generation.maxNewTokens,
        })
      }`;
      await cachedBcGuide(
        guideDir,
        "BC guide (fine-tuned on CommonGen targets)",
        pretrainedDir,
        async () =>
          commonGenPairs(await train(), tokenizer, { maxPrompt, maxNew: generation.maxNewTokens }),
        { steps: config.guide.bcSteps, learningRate: config.guide.bcLearningRate, rng: build },
      );
      const model = await loadCausalLM(guideDir);
      guide = model;
      owned.push(model);
    } else {
      const external = await loadExternalGuide(config, tokenizer, learner.config.vocabSize);
      if (external) {
        guide = external.guide;
        owned.push(...external.owned);
      }
    }
  } catch (error) {
    learner.dispose();
    throw error;
  }

  // SPICE needs Java and the SPICE jar; the small preset leaves it out of reward and metrics.
  const reward = spiderReward({ spice: null });
  const task = createCommonGenTask({
    dataDir,
    reward,
    metrics: captionMetrics({ spice: null }),
    generation: taskGeneration(config.train),
  });
  return {
    task,
    tokenizer,
    learner,
    guide,
    reward,
    baselines: guideBaselines(config.guide.kind, guide),
    owned,
  };
}

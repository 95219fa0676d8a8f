/**
 * `deno task eval`: a policy's task metrics on the val or test prompts.
 *
 * ```
 * deno task eval --run DIR [--split val|test] [--records N] [--seed N]
 * deno task eval --model DIR --task imdb|commongen [--data DIR] [--reward PATH] [--reference DIR]
 * ```
 *
 * A run is evaluated with its own task, decoding and reward (rebuilt from its
 * config.json, from the cache), its trained `policy/` (else the last
 * checkpoint's), and perplexity under its zero-shot policy; the result is also
 * written to `DIR/eval-<split>.json`. A bare model folder uses the task's
 * defaults.
 * @module
 */
import { writeJsonAtomic } from "../core/atomic.ts";
import { ConfigError, InputError } from "../core/errors.ts";
import { Rng } from "../core/prng.ts";
import { initBackend } from "../models/backend.ts";
import { loadCausalLM } from "../models/checkpoint.ts";
import { GPT2LM } from "../models/gpt2.ts";
import { type EngineMode, onEngine, openEngine } from "../models/engine/mod.ts";
import { loadPolicy, type PolicyModel } from "../models/t5_checkpoint.ts";
import type { CausalLM, TokenGenerator, Tokenizer } from "../models/types.ts";
import { evaluatePolicy } from "../pipelines/evaluate.ts";
import { loadBertScorer } from "../rewards/bertscore_model.ts";
import { captionMetrics } from "../rewards/caption_metrics.ts";
import { spiderReward } from "../rewards/spider.ts";
import type { MetricFunction, RewardFunction } from "../rewards/types.ts";
import type { GenerationConfig } from "../stages/types.ts";
import { createCommonGenTask } from "../tasks/commongen_task.ts";
import { imdbDataDir } from "../tasks/download.ts";
import { createImdbTask, IMDB_HELD_OUT_EVAL_REVIEWS, loadImdbHeldOut } from "../tasks/imdb_task.ts";
import { bitsPerByteMetric } from "../rewards/bits_per_byte.ts";
import type { PromptRecord, Split, Task } from "../tasks/types.ts";
import { CONFIG_CHOICES, resolveConfig, type RunConfig } from "./config.ts";
import { commonGenDataDir } from "./commongen_small.ts";
import { localDataDir } from "./_cache.ts";
import { requireFolder } from "./guide_parts.ts";
import { loadSentimentReward } from "./imdb_gpt2.ts";
import { imdbMetrics } from "./imdb_metrics.ts";
import { type CliIo, CONSOLE_IO, runCommand } from "./cli_io.ts";
import { Progress } from "./progress.ts";
import { checkpointPath, listCheckpoints } from "./run_dir.ts";
import { useRunCache } from "./run_cache.ts";
import { flagError, parseFlags } from "./flags.ts";
import { buildTaskParts } from "./setup.ts";
import { exists } from "./_cache.ts";

const HELP = `Usage:
  deno task eval --run DIR [options]
  deno task eval --model DIR --task imdb|commongen [options]

Scores a policy on a task's held-out prompts and prints its metrics (IMDB: reward
= sentiment, and perplexity under the zero-shot model; CommonGen: BLEU, METEOR,
ROUGE-L, CIDEr-D). For a run, also writes DIR/eval-<split>.json.

Options:
  --run DIR          a run folder of \`deno task train\` (its config, policy and zero-shot model)
  --model DIR        a Hugging Face GPT-2 or T5 folder with its tokenizer
  --task NAME        imdb | commongen (required with --model)
  --split NAME       val | test (default val)
  --records N        prompts evaluated, 0 = all (default: the run's task.evalRecords, else 200)
  --data DIR         dataset folder (else the run's, else RLGF_DATA_DIR)
  --reward PATH      IMDB reward: an ONNX sentiment model folder or a saved classifier file
                     (required for --model --task imdb; overrides a run's)
  --reference DIR    IMDB perplexity model for --model (a run uses its zero-shot model)
  --bertscore DIR    CommonGen: add BERTScore with this local BERT (ONNX) folder
  --engine NAME      auto | onnx | onnx-rollouts | tfjs for generation (default: the run's, else auto)
  --seed N           sampling seed (default: the run's, else 0)
  --greedy           decode greedily instead of sampling with the task's top-k
  --beams N          beam search with N beams (deterministic)
                     (default decoding: the run's evaluation settings; for --model, sampling
                     on imdb and 5 beams on commongen, as the paper decodes)
  -h, --help         this text`;

/** What an evaluation produced. */
export interface EvalResult {
  /** The policy folder evaluated. */
  policy: string;
  task: string;
  split: Split;
  records: number;
  seed: number;
  /** "sample" (the task's top-k, seeded), "greedy" or "beam-N" (N beams). */
  decoding: string;
  reward_mean: number;
  /** The task's corpus metrics by name. */
  metrics: Record<string, number>;
  /** The first few prompts with their generation and reward. */
  samples: { prompt: string; generation: string; reward: number }[];
}

interface EvalArgs {
  run: string | null;
  model: string | null;
  task: string | null;
  split: Split;
  records: number | null;
  data: string | null;
  reward: string | null;
  reference: string | null;
  bertscore: string | null;
  engine: string | null;
  seed: number | null;
  greedy: boolean;
  beams: number | null;
}

function parseEvalArgs(argv: string[]): EvalArgs | null {
  const { values: v } = parseFlags(
    argv,
    {
      run: { type: "string" },
      model: { type: "string" },
      task: { type: "string" },
      split: { type: "string" },
      records: { type: "string" },
      data: { type: "string" },
      reward: { type: "string" },
      reference: { type: "string" },
      bertscore: { type: "string" },
      engine: { type: "string" },
      seed: { type: "string" },
      greedy: { type: "boolean" },
      beams: { type: "string" },
    },
  );
  const values = v as Record<string, string | undefined> & { help?: boolean; greedy?: boolean };
  if (values.help) return null;
  if (!values.run === !values.model) {
    throw flagError("--run", "give exactly one of --run DIR or --model DIR");
  }
  if (values.model && !values.task) {
    throw flagError("--task", "--model needs --task imdb|commongen");
  }
  if (values.task !== undefined && !["imdb", "commongen"].includes(values.task)) {
    throw flagError("--task", `unknown task "${values.task}"; expected imdb or commongen`);
  }
  const split = values.split ?? "val";
  if (split !== "val" && split !== "test") {
    throw flagError("--split", `unknown split "${split}"; expected val or test`);
  }
  if (values.engine !== undefined && !CONFIG_CHOICES.engine.includes(values.engine)) {
    throw flagError(
      "--engine",
      `unknown engine "${values.engine}"; expected ${CONFIG_CHOICES.engine.join(", ")}`,
    );
  }
  if (values.reward && values.task === "commongen") {
    throw flagError("--reward", "is for IMDB (CommonGen's reward is CIDEr-D)");
  }
  if (values.bertscore && values.task === "imdb") {
    throw flagError("--bertscore", "is for CommonGen");
  }
  if (values.reference && values.task === "commongen") {
    throw flagError("--reference", "is for IMDB's perplexity");
  }
  if (values.reference && values.run) {
    throw flagError("--reference", "only with --model (a run uses its zero-shot model)");
  }
  return {
    run: values.run ?? null,
    model: values.model ?? null,
    task: values.task ?? null,
    split,
    records: integer("--records", values.records),
    data: values.data ?? null,
    reward: values.reward ?? null,
    reference: values.reference ?? null,
    bertscore: values.bertscore ?? null,
    engine: values.engine ?? null,
    seed: integer("--seed", values.seed),
    greedy: values.greedy ?? false,
    beams: positive("--beams", values.beams),
  };
}

function positive(flag: string, text: string | undefined): number | null {
  const n = integer(flag, text);
  if (n === 0) throw flagError(flag, `expected a positive integer, got "${text}"`);
  return n;
}

function integer(flag: string, text: string | undefined): number | null {
  if (text === undefined) return null;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) {
    throw flagError(flag, `expected a non-negative integer, got "${text}"`);
  }
  return n;
}

/** Everything evaluation needs, however it was found. */
interface Bench {
  policyDir: string;
  policy: PolicyModel;
  task: Task;
  tokenizer: Tokenizer;
  reward: RewardFunction;
  metrics: MetricFunction;
  generation: GenerationConfig;
  maxPromptTokens: number;
  records: number;
  seed: number;
  engine: string;
  /** How to decode: the flags, else the run's or the task's default. */
  decoding: Decoding;
  /** Metrics of the policy itself (IMDB: held-out bits per byte). */
  policyMetrics?: (policy: TokenGenerator) => Promise<Record<string, number>>;
  dispose(): void;
}

/** Sampling, or deterministic decoding with `numBeams` beams (1 = greedy). */
interface Decoding {
  doSample: boolean;
  numBeams: number;
}

/** The decoding the flags ask for, else `fallback`. */
function decodingOf(args: EvalArgs, fallback: Decoding): Decoding {
  if (args.greedy && args.beams !== null && args.beams > 1) {
    throw flagError("--beams", "give --greedy or --beams N, not both");
  }
  if (args.greedy) return { doSample: false, numBeams: 1 };
  if (args.beams !== null) return { doSample: false, numBeams: args.beams };
  return fallback;
}

function decodingName(d: Decoding): string {
  return d.doSample ? "sample" : d.numBeams > 1 ? `beam-${d.numBeams}` : "greedy";
}

/** Loads a GPT-2 or T5 folder with its tokenizer; errors name the folder. */
async function loadPolicyFolder(
  dir: string,
  flag: string,
): Promise<PolicyModel & { tokenizer: Tokenizer }> {
  if (!(await exists(dir))) throw new InputError(`model folder not found (${flag})`, dir);
  const model = await loadPolicy(dir);
  if (!model.tokenizer) {
    model.dispose();
    throw new InputError("Missing tokenizer.json: the model folder must hold its tokenizer", dir);
  }
  return model as PolicyModel & { tokenizer: Tokenizer };
}

/** The run's trained policy: `policy/`, else the last checkpoint's. */
async function runPolicyDir(run: string, err: (line: string) => void): Promise<string> {
  if (await exists(`${run}/policy/config.json`)) return `${run}/policy`;
  const found = await listCheckpoints(run);
  for (const iteration of found.reverse()) {
    const dir = `${checkpointPath(run, iteration)}/policy`;
    if (await exists(`${dir}/config.json`)) {
      err(`note: ${run}/policy is missing (unfinished run); using ${dir}`);
      return dir;
    }
  }
  throw new InputError("no trained policy: neither policy/ nor a checkpoint's policy/", run);
}

async function readRunConfig(run: string): Promise<RunConfig> {
  if (!(await exists(run))) throw new InputError("run folder not found (--run)", run);
  const path = `${run}/config.json`;
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(await Deno.readTextFile(path));
  } catch (error) {
    throw new InputError(`cannot read the run's config (${(error as Error).message})`, path);
  }
  // Re-resolving checks every key and value as `train` did.
  return resolveConfig(String(json.preset), [{ source: path, values: json }]);
}

async function runBench(args: EvalArgs, io: CliIo): Promise<Bench> {
  const run = args.run!.replace(/\/+$/, "");
  const config = await readRunConfig(run);
  if (config.task.name !== "imdb" && config.task.name !== "commongen") {
    throw new ConfigError(
      "task.name",
      `eval supports imdb and commongen runs, not "${config.task.name}"`,
    );
  }
  if (args.task && args.task !== config.task.name) {
    throw flagError("--task", `the run's task is "${config.task.name}", not "${args.task}"`);
  }
  if (args.reward && config.task.name !== "imdb") {
    throw flagError("--reward", "is for IMDB (CommonGen's reward is CIDEr-D)");
  }
  if (args.data) config.task.dataDir = args.data;
  if (args.bertscore) config.task.bertScoreDir = args.bertscore;
  // The guide plays no part in evaluation: skip building or loading it (and a learner that
  // started from it: the pretrained model is the zero-shot reference evaluation uses).
  config.guide.kind = "none";
  config.policy.init = "pretrained";
  const policyDir = await runPolicyDir(run, io.err);
  // What the run used, said before anything is loaded or built.
  const cache = await useRunCache(run);
  io.err(describeRunEval(run, config, policyDir, cache, args));
  let parts;
  try {
    parts = await buildTaskParts(config, new Rng(config.seed));
  } catch (error) {
    cache.restore();
    throw error;
  }
  const owned: { dispose(): void }[] = [parts.learner, ...parts.owned, { dispose: cache.restore }];
  const disposeAll = () => owned.forEach((o) => o.dispose());
  try {
    const policy = await loadPolicyFolder(policyDir, "--run");
    owned.push(policy);
    let reward = parts.reward;
    let metrics = parts.task.metrics;
    if (config.task.name === "imdb") {
      if (args.reward) {
        const loaded = await loadSentimentReward(
          await rewardKind(args.reward),
          args.reward,
          "--reward",
        );
        owned.push(loaded);
        reward = loaded.reward;
      }
      // The zero-shot policy (parts.learner, untrained) is the fluency reference.
      if (!(parts.learner instanceof GPT2LM)) {
        throw new ConfigError("policy.architecture", "IMDB's perplexity needs a GPT-2 policy");
      }
      metrics = imdbMetrics(reward, { model: parts.learner, tokenizer: parts.tokenizer });
    }
    return {
      policyDir,
      policy,
      task: parts.task,
      tokenizer: parts.tokenizer,
      reward,
      metrics,
      generation: config.train.generation,
      maxPromptTokens: config.train.maxPromptTokens,
      records: args.records ?? config.task.evalRecords,
      seed: args.seed ?? config.seed,
      engine: args.engine ?? config.engine,
      decoding: decodingOf(args, config.evaluation),
      ...(parts.policyMetrics ? { policyMetrics: parts.policyMetrics } : {}),
      dispose: disposeAll,
    };
  } catch (error) {
    disposeAll();
    throw error;
  }
}

/** One line: what `eval --run` evaluates with, taken from the run (or overridden by a flag). */
function describeRunEval(
  run: string,
  config: RunConfig,
  policyDir: string,
  cache: { cacheDir: string; recorded: boolean; present: boolean },
  args: EvalArgs,
): string {
  const g = config.train.generation;
  const chosen = decodingOf(args, config.evaluation);
  const flagged = args.greedy || args.beams !== null ? " (flag)" : "";
  const decoding = chosen.doSample
    ? `sampling top-k ${g.topK}, top-p ${g.topP}, temperature ${g.temperature}`
    : chosen.numBeams > 1
    ? `beam search with ${chosen.numBeams} beams${flagged}`
    : `greedy decoding${flagged}`;
  const from = (flag: unknown, name: string) =>
    flag === null || flag === undefined ? "" : ` (${name})`;
  const where = cache.recorded
    ? `the run's cache ${cache.cacheDir}`
    : `the cache ${cache.cacheDir}`;
  return `eval: ${policyDir} with the run's settings: task ${config.task.name} (preset ` +
    `${config.preset}), ${decoding}, up to ${g.maxNewTokens} new tokens, seed ` +
    `${args.seed ?? config.seed}${from(args.seed, "--seed")}, engine ${
      args.engine ?? config.engine
    }` +
    `${from(args.engine, "--engine")}; tokenizer, reward and zero-shot model from ${where}` +
    (cache.recorded ? "" : ` (${run} does not record its cache)`) +
    (cache.present ? "" : ", which is missing: they will be rebuilt there");
}

async function rewardKind(path: string): Promise<string> {
  try {
    return (await Deno.stat(path)).isDirectory ? "onnx" : "classifier";
  } catch {
    throw flagError(
      "--reward",
      `"${path}" does not exist (expected an ONNX folder or a classifier file)`,
    );
  }
}

async function modelBench(args: EvalArgs, io: CliIo): Promise<Bench> {
  const policyDir = args.model!.replace(/\/+$/, "");
  const policy = await loadPolicyFolder(policyDir, "--model");
  const owned: { dispose(): void }[] = [policy];
  const disposeAll = () => owned.forEach((o) => o.dispose());
  try {
    const tokenizer = policy.tokenizer;
    let task: Task;
    let reward: RewardFunction;
    let metrics: MetricFunction;
    let policyMetrics: Bench["policyMetrics"];
    if (args.task === "imdb") {
      if (!args.reward) {
        throw flagError(
          "--reward",
          "--task imdb needs --reward PATH (an ONNX sentiment model folder or a classifier file)",
        );
      }
      const loaded = await loadSentimentReward(
        await rewardKind(args.reward),
        args.reward,
        "--reward",
      );
      owned.push(loaded);
      reward = loaded.reward;
      let reference: CausalLM | null = null;
      if (args.reference) {
        const dir = await requireFolder("--reference", args.reference, "a GPT-2 model");
        const model = await loadCausalLM(dir);
        owned.push(model);
        reference = model;
      }
      metrics = imdbMetrics(reward, reference ? { model: reference, tokenizer } : null);
      // as train finds it: --data, RLGF_DATA_DIR, ./data or ../shared/data, else the download
      const dataDir = await localDataDir(args.data ?? null, "imdb") ?? await imdbDataDir();
      task = createImdbTask({ dataDir, tokenizer, reward, metrics });
      policyMetrics = bitsPerByteMetric(
        await loadImdbHeldOut(dataDir, IMDB_HELD_OUT_EVAL_REVIEWS),
        tokenizer,
      );
    } else {
      reward = spiderReward({ spice: null });
      const scorer = args.bertscore
        ? await loadBertScorer({
          modelDir: await requireFolder("--bertscore", args.bertscore, "a BERT model"),
        })
        : null;
      if (scorer) owned.push({ dispose: () => void scorer.dispose() });
      metrics = captionMetrics({ spice: null, bertScorer: scorer });
      task = createCommonGenTask({ dataDir: commonGenDataDir(args.data), reward, metrics });
    }
    const g = task.generation;
    // A GPT with a shorter context than the task's prompt + continuation sees the prompt's end.
    const context = "nPositions" in policy.config ? policy.config.nPositions : Infinity;
    const maxPromptTokens = Math.min(g.maxPromptTokens, context - g.maxNewTokens);
    if (maxPromptTokens < 1) {
      throw new InputError(
        `the model's context of ${context} tokens holds none of the task's prompt besides its ` +
          `${g.maxNewTokens} new tokens`,
        policyDir,
      );
    }
    if (maxPromptTokens < g.maxPromptTokens) {
      io.err(
        `note: prompts cut to their last ${maxPromptTokens} tokens (the task's ${g.maxPromptTokens}` +
          ` + ${g.maxNewTokens} new exceed the model's context of ${context})`,
      );
    }
    return {
      policyDir,
      policy,
      task,
      tokenizer,
      reward,
      metrics: task.metrics,
      generation: { ...g, topP: 1, temperature: 1 },
      maxPromptTokens,
      records: args.records ?? 200,
      seed: args.seed ?? 0,
      engine: args.engine ?? "auto",
      decoding: decodingOf(
        args,
        args.task === "commongen"
          ? { doSample: false, numBeams: 5 }
          : { doSample: true, numBeams: 1 },
      ),
      ...(policyMetrics ? { policyMetrics } : {}),
      dispose: disposeAll,
    };
  } catch (error) {
    disposeAll();
    throw error;
  }
}

/** The policy to generate with: on ONNX Runtime when the engine setting allows and it loads. */
async function generator(
  bench: Bench,
  io: CliIo,
): Promise<{ policy: TokenGenerator; release(): Promise<void> }> {
  // evaluation takes no gradient step: the training graphs are not opened
  const engine = await openEngine(bench.policy.config, bench.engine as EngineMode, {
    training: false,
    note: (message) => io.err(message),
  });
  return {
    policy: onEngine(bench.policy, engine),
    release: async () => await engine?.dispose(),
  };
}

/** Generates and scores in chunks so a long evaluation shows progress. */
async function score(bench: Bench, records: PromptRecord[], io: CliIo) {
  const { policy, release } = await generator(bench, io);
  try {
    const scored = await scoreChunks(bench, policy, records);
    return { ...scored, own: await bench.policyMetrics?.(policy) ?? {} };
  } finally {
    await release();
  }
}

async function scoreChunks(
  bench: Bench,
  policy: TokenGenerator,
  records: PromptRecord[],
) {
  const chunk = 64;
  const rng = new Rng(bench.seed).child("eval");
  const rewards: number[] = [];
  const generations: string[] = [];
  const progress = new Progress("eval", records.length, { unit: "prompt" });
  for (let start = 0; start < records.length; start += chunk) {
    const result = await evaluatePolicy(policy, records.slice(start, start + chunk), {
      // Scored text leaves out EOS (rows that stop early would otherwise end in "<|endoftext|>").
      tokenizer: bench.tokenizer,
      reward: bench.reward,
      generation: bench.generation,
      maxPromptTokens: bench.maxPromptTokens,
      batchSize: chunk,
      doSample: bench.decoding.doSample,
      numBeams: bench.decoding.numBeams,
      rng: rng.child(`chunk-${start / chunk}`),
    });
    rewards.push(...result.rewards);
    generations.push(...result.generations);
    const mean = rewards.reduce((a, b) => a + b, 0) / rewards.length;
    progress.update(rewards.length, { reward: mean.toFixed(3) });
  }
  progress.finish();
  return { rewards, generations };
}

/** Formats a two-column table of metric name and value. */
export function formatTable(rows: [string, number][]): string {
  const width = Math.max(6, ...rows.map(([name]) => name.length));
  const value = (v: number) => Number.isInteger(v) ? String(v) : v.toFixed(4);
  return [
    `${"metric".padEnd(width)}  value`,
    ...rows.map(([name, v]) => `${name.padEnd(width)}  ${value(v)}`),
  ].join("\n");
}

/**
 * Runs an evaluation as the command line asks.
 * @param argv the arguments after `deno task eval`
 * @param io where the table and notes go
 * @returns the result, or null when only help was printed
 */
export async function evaluate(argv: string[], io: CliIo = CONSOLE_IO): Promise<EvalResult | null> {
  const args = parseEvalArgs(argv);
  if (!args) {
    io.out(HELP);
    return null;
  }
  await initBackend();
  const bench = args.run ? await runBench(args, io) : await modelBench(args, io);
  try {
    let records = await bench.task.records(args.split);
    if (bench.records > 0) records = records.slice(0, bench.records);
    if (records.length === 0) {
      throw new InputError(`no ${args.split} prompts to evaluate`, bench.task.name);
    }
    const { rewards, generations, own } = await score(bench, records, io);
    const metrics = {
      ...await bench.metrics({
        prompts: records.map((r) => r.prompt),
        generations,
        references: records.map((r) => r.references),
      }),
      ...own,
    };
    const result: EvalResult = {
      policy: bench.policyDir,
      task: bench.task.name,
      split: args.split,
      records: records.length,
      seed: bench.seed,
      decoding: decodingName(bench.decoding),
      reward_mean: rewards.reduce((a, b) => a + b, 0) / rewards.length,
      metrics,
      samples: records.slice(0, 8).map((r, i) => ({
        prompt: r.prompt,
        generation: generations[i],
        reward: rewards[i],
      })),
    };
    io.out(
      `${result.policy} on ${result.task} ${result.split} (${result.records} prompts, seed ${result.seed})`,
    );
    io.out(formatTable([["reward_mean", result.reward_mean], ...Object.entries(metrics)]));
    if (args.run) {
      const path = `${args.run.replace(/\/+$/, "")}/eval-${args.split}.json`;
      await writeJsonAtomic(path, result);
      io.out(`written: ${path}`);
    }
    return result;
  } finally {
    bench.dispose();
  }
}

/**
 * The command: runs {@linkcode evaluate}, prints a one-line error for bad input.
 * @param argv the arguments
 * @param io where output goes
 * @returns the exit code (0 ok, 1 error)
 */
export function main(argv: string[], io: CliIo = CONSOLE_IO): Promise<number> {
  return runCommand(() => evaluate(argv, io), io);
}

if (import.meta.main) Deno.exit(await main(Deno.args));

/**
 * `deno task train`: trains a policy with one of the algorithms and leaves a run
 * folder with the resolved config, metrics.jsonl, checkpoints, evaluation,
 * samples and an HTML report. With no arguments it runs the embedded default
 * (preset imdb-small: D2LOLS on IMDB).
 * @module
 */
import { lastValueFrom, tap } from "rxjs";
import { writeFileAtomic, writeJsonAtomic } from "../core/atomic.ts";
import { ConfigError, InputError } from "../core/errors.ts";
import { Rng } from "../core/prng.ts";
import { initBackend } from "../models/backend.ts";
import { type EvaluateOptions, evaluatePolicy } from "../pipelines/evaluate.ts";
import { RL_ALGORITHMS, runAlgorithm } from "../pipelines/run_algorithm.ts";
import { PRESETS, readConfigFile, resolveConfig, type RunConfig } from "./config.ts";
import { choiceFlag, FlagError, integerFlag, parseFlags } from "./flags.ts";
import { Progress } from "./progress.ts";
import { saveLoraBase, savePolicyFolder, shellQuote } from "./policy_folder.ts";
import type { GPT2LM } from "../models/gpt2.ts";
import type { PolicyLM } from "../models/types.ts";
import type { PolicyModel } from "../models/t5_checkpoint.ts";
import { RemoteGenerator, remoteSampling, type RolloutStats } from "../models/remote_rollouts.ts";
import { adapterPublisher } from "./rollout_sync.ts";
import { exists } from "../core/fs.ts";
import { recordRunCache, useRunCache } from "./run_cache.ts";
import { writeRunReport } from "./report.ts";
import { CONSOLE_IO, runCommand } from "./cli_io.ts";
import {
  acquireRunLock,
  appendJsonl,
  listCheckpoints,
  loadLatestCheckpoint,
  prepareRunDir,
  readJsonl,
  removeCheckpointLeftovers,
  truncateMetrics,
  writeCheckpoint,
} from "./run_dir.ts";
import { buildSetup, type RunSetup } from "./setup.ts";
import { type ApiStats, apiStats, openResponseCache } from "../models/completions_api.ts";
import { loadTrainState, saveTrainState } from "./train_state.ts";

const HELP = `Usage: deno task train [options]

Trains a language model with RL from guided feedback and writes a run folder.
With no options: preset imdb-small (D2LOLS on IMDB, everything built and cached here).

Options:
  --preset NAME      ${Object.keys(PRESETS).join(" | ")} (default imdb-small)
  --algo NAME        the paper's: ppo | ppo++ | aggrevated | lols | d2lols | bc | bc+<algo>;
                     beyond it: grpo | rloo | rebel | drpo | grpo++ (default: the preset's)
  --config FILE      JSON or YAML overriding any config field (see the run folder's config.json),
                     or the JSON itself: --config '{"train":{"learningRate":3e-4}}'
  --out DIR          run folder (default runs/<preset>-<algo>-seed<N>)
  --seed N           the seed every random choice comes from (default 0)
  --iterations N     RL iterations (train.iterations)
  --data DIR         dataset folder (else RLGF_DATA_DIR, else download)
  --resume DIR       continue the run in DIR from its last checkpoint; with --iterations N,
                     extend a run (finished or not) to N iterations (the learning-rate decay
                     and D2LOLS's switch then follow the new total)
  -h, --help         this text

Presets:
${Object.entries(PRESETS).map(([name, p]) => `  ${name.padEnd(16)} ${p.description}`).join("\n")}`;

/** Parsed command line. */
interface TrainArgs {
  preset: string;
  layers: { source: string; values: unknown }[];
  out: string | null;
  resume: string | null;
}

const TRAIN_FLAGS = {
  preset: { type: "string" },
  algo: { type: "string" },
  config: { type: "string" },
  out: { type: "string" },
  seed: { type: "string" },
  iterations: { type: "string" },
  data: { type: "string" },
  resume: { type: "string" },
} as const;

/** The algorithm names `--algo` accepts (bc+X for every RL algorithm X). */
const ALGORITHMS = [
  ...Object.keys(RL_ALGORITHMS),
  "bc",
  ...Object.keys(RL_ALGORITHMS).map((a) => `bc+${a}`),
];

/** The flag that set each config field, for errors about a flag's value. */
const FLAG_OF_FIELD: Record<string, string> = {
  algo: "--algo",
  seed: "--seed",
  "train.iterations": "--iterations",
  "task.dataDir": "--data",
};

async function parseTrainArgs(argv: string[]): Promise<TrainArgs | null> {
  const { values: v } = parseFlags(argv, TRAIN_FLAGS, {
    hint: (arg) =>
      arg in PRESETS ? `--preset ${arg}` : ALGORITHMS.includes(arg) ? `--algo ${arg}` : null,
  });
  const values = v as Partial<Record<keyof typeof TRAIN_FLAGS, string>> & { help?: boolean };
  if (values.help) return null;
  const iterations = integerFlag("--iterations", values.iterations, 1);
  if (values.resume !== undefined) {
    const extra = Object.keys(values).filter((k) => k !== "resume" && k !== "iterations");
    if (extra.length > 0) {
      throw new FlagError(
        `flag --${extra[0]} cannot be used with --resume: the run's config.json holds its ` +
          `settings (only --iterations N may extend the run)`,
      );
    }
    return {
      preset: "",
      layers: iterations === undefined
        ? []
        : [{ source: "flag --iterations", values: { train: { iterations } } }],
      out: values.resume,
      resume: values.resume,
    };
  }
  choiceFlag("--preset", values.preset, Object.keys(PRESETS), "preset");
  choiceFlag("--algo", values.algo, ALGORITHMS, "algorithm");
  const layers: TrainArgs["layers"] = [];
  if (values.config) {
    const inline = values.config.trimStart().startsWith("{");
    layers.push({
      source: inline ? "--config" : values.config,
      values: await readConfigFile(values.config),
    });
  }
  const flags: Record<string, unknown> = {};
  if (values.algo) flags.algo = values.algo;
  const seed = integerFlag("--seed", values.seed);
  if (seed !== undefined) flags.seed = seed;
  if (iterations !== undefined) flags.train = { iterations };
  if (values.data) flags.task = { dataDir: values.data };
  layers.push({ source: "command-line flags", values: flags });
  return { preset: values.preset ?? "imdb-small", layers, out: values.out ?? null, resume: null };
}

/**
 * {@linkcode resolveConfig}, with an error about a value that came from a flag
 * reported as that flag's (`flag --iterations: ...`), not as a config field.
 */
function resolveWithFlags(preset: string, layers: TrainArgs["layers"]): RunConfig {
  try {
    return resolveConfig(preset, layers);
  } catch (error) {
    const flagLayer = layers.at(-1);
    if (
      error instanceof ConfigError && flagLayer && FLAG_OF_FIELD[error.field] &&
      fieldIsSet(flagLayer.values, error.field)
    ) {
      const what = error.message.replace(/^Config field "[^"]*": /, "").replace(
        / \(in [^)]*\)$/,
        "",
      );
      throw new FlagError(`flag ${FLAG_OF_FIELD[error.field]}: ${what}`);
    }
    throw error;
  }
}

function fieldIsSet(values: unknown, field: string): boolean {
  let node = values;
  for (const key of field.split(".")) {
    if (typeof node !== "object" || node === null || !(key in node)) return false;
    node = (node as Record<string, unknown>)[key];
  }
  return true;
}

/** An API guide's counts so far, as metrics (none without an API guide). */
function apiMetrics(stats: ApiStats | undefined): Record<string, number> {
  if (!stats) return {};
  return {
    api_requests: stats.requests,
    api_retries: stats.retries,
    api_cache_hits: stats.cacheHits,
    api_prompt_tokens: stats.promptTokens,
    api_completion_tokens: stats.completionTokens,
  };
}

function defaultOut(config: RunConfig): string {
  return `runs/${config.preset}-${config.algo.replace(/\+/g, "p")}-seed${config.seed}`;
}

/** The remote roll-out route of `config.rollout` for a LoRA learner. */
function remoteRollouts(
  config: RunConfig,
  learner: GPT2LM,
  scorer: PolicyLM,
  adapterDir: string,
  baseDir: string,
) {
  const stats: RolloutStats = { requests: 0, failovers: 0, adapterLoads: 0 };
  const r = config.rollout;
  const apiKey = Deno.env.get(r.apiKeyEnv);
  const generator = new RemoteGenerator({
    servers: r.servers,
    model: r.model,
    ...(apiKey ? { apiKey } : {}),
    timeoutSeconds: r.timeoutSeconds,
    maxRetries: r.maxRetries,
    concurrency: r.concurrency,
    adapters: adapterPublisher(learner, adapterDir, baseDir),
    probe: async () => {
      // a fixed probe of the vocabulary's first ids, scored by the learner as it is now
      const ids = Array.from({ length: Math.min(8, learner.config.vocabSize) }, (_, i) => i);
      const [logProbs] = await scorer.continuationLogProbs([ids.slice(0, 1)], [ids.slice(1)]);
      return { ids, logProbs, tolerance: 1e-3 };
    },
    scorer: (prompts, continuations) => scorer.continuationLogProbs(prompts, continuations),
    keepLogProbs: r.serverLogProbs,
    stats,
  });
  return { generator, stats };
}

function rolloutMetrics(stats: RolloutStats): Record<string, number> {
  return {
    rollout_requests: stats.requests,
    rollout_failovers: stats.failovers,
    rollout_adapter_loads: stats.adapterLoads,
    // mean |Δ log p| between the servers' log-probs and the learner's, on checked tokens
    ...(stats.mismatchTokens
      ? { rollout_logprob_mismatch: stats.mismatchSum! / stats.mismatchTokens }
      : {}),
  };
}

/** Writes a LoRA learner's frozen base to `RUN/base` once; returns its absolute path. */
async function writeLoraBase(learner: PolicyModel, runDir: string): Promise<string> {
  const dir = await Deno.realPath(runDir).then((abs) => `${abs}/base`);
  if (!(await exists(`${dir}/model.safetensors`))) await saveLoraBase(learner, dir);
  return dir;
}

/**
 * The options of a run's final evaluation: the run's decoding, prompt length
 * and reward, and the "eval" child of the run's seed, so every re-evaluation
 * of a saved policy (bench:paper's per-prompt rewards) samples what train.ts did.
 * @param config the run's config
 * @param setup the run's models, tokenizer and reward
 * @returns the options for evaluatePolicy
 */
export function finalEvaluationOptions(config: RunConfig, setup: RunSetup): EvaluateOptions {
  return {
    tokenizer: setup.tokenizer,
    reward: setup.state.reward,
    generation: config.train.generation,
    maxPromptTokens: config.train.maxPromptTokens,
    doSample: config.evaluation.doSample,
    numBeams: config.evaluation.numBeams,
    rng: new Rng(config.seed).child("eval"),
  };
}

/**
 * Evaluates the learner (named `label`) and the baselines on the held-out prompts: the task's
 * metrics per model, and each prompt's generation and reward.
 */
export async function evaluateSetup(config: RunConfig, setup: RunSetup, label: string) {
  const rows: Record<string, string | number>[] = [];
  const generations: Record<string, string[]> = {};
  const perPrompt: {
    model: string;
    id: string;
    prompt: string;
    generation: string;
    reward: number;
  }[] = [];
  if (setup.evalRecords.length === 0) return { rows, generations, perPrompt };
  const policies = [{ name: label, policy: setup.state.learner }, ...setup.baselines];
  const progress = new Progress("eval", policies.length, { unit: "policy" });
  for (const [i, { name, policy }] of policies.entries()) {
    const result = await evaluatePolicy(
      policy,
      setup.evalRecords,
      finalEvaluationOptions(config, setup),
    );
    const metrics = await setup.task.metrics({
      prompts: setup.evalRecords.map((r) => r.prompt),
      generations: result.generations,
      references: setup.evalRecords.map((r) => r.references),
    });
    const own = await setup.policyMetrics?.(policy) ?? {};
    rows.push({ model: name, reward_mean: result.rewardMean, ...metrics, ...own });
    generations[name] = result.generations;
    setup.evalRecords.forEach((record, j) =>
      perPrompt.push({
        model: name,
        id: record.id,
        prompt: record.prompt,
        generation: result.generations[j],
        reward: result.rewards[j],
      })
    );
    progress.update(i + 1, { [name]: result.rewardMean.toFixed(3) });
  }
  progress.finish();
  return { rows, generations, perPrompt };
}

/** Runs training as configured; returns the run folder. */
export async function train(argv: string[]): Promise<string | null> {
  const args = await parseTrainArgs(argv);
  const command = ["deno", "task", "train", ...argv].map(shellQuote).join(" ");
  if (!args) {
    console.log(HELP);
    return null;
  }
  let config: RunConfig;
  let startIteration = 0;
  const out = args.out;
  if (args.resume) {
    const path = `${args.resume}/config.json`;
    let saved: { preset?: unknown };
    try {
      saved = JSON.parse(await Deno.readTextFile(path));
    } catch (error) {
      throw new InputError(`cannot read the run's config (${(error as Error).message})`, path);
    }
    // Re-resolved, so a hand-edited config.json is checked like any config file.
    // `--iterations N` extends (or shortens) the run: the new total is saved with it.
    config = resolveWithFlags(String(saved.preset), [
      { source: path, values: saved },
      ...args.layers,
    ]);
  } else {
    config = resolveWithFlags(args.preset, args.layers);
  }
  const runDir = out ?? defaultOut(config);
  await prepareRunDir(runDir);
  // A second run into the same folder is refused while this one holds the lock.
  await using _lock = await acquireRunLock(runDir, (line) => console.error(line));
  const metricsPath = `${runDir}/metrics.jsonl`;
  const total = config.train.iterations +
    (config.algo.startsWith("bc") ? config.train.bc.iterations : 0);
  if (!args.resume) {
    if ((await listCheckpoints(runDir)).length > 0 || (await readJsonl(metricsPath)).length > 0) {
      throw new InputError("run folder already holds a run; use --resume or another --out", runDir);
    }
    await writeJsonAtomic(`${runDir}/config.json`, config);
    await recordRunCache(runDir);
  } else {
    const done = Math.max(0, ...(await listCheckpoints(runDir)));
    if (args.layers.length > 0 && done > total) {
      throw new FlagError(
        `flag --iterations: the run in ${runDir} has done ${done} iterations; ` +
          `expected at least that many`,
      );
    }
    // The parts the run was built from (tokenizer, reward, zero-shot model, guide), not rebuilt.
    const cache = await useRunCache(runDir);
    if (cache.recorded) console.error(`using the run's cache ${cache.cacheDir}`);
  }
  await initBackend();
  // An API guide's answers are kept in the run folder (a resumed run pays for nothing twice) and
  // its interaction is counted into each iteration's metrics.
  const api = config.guide.kind === "api"
    ? { cache: await openResponseCache(`${runDir}/api_cache.jsonl`), stats: apiStats() }
    : {};
  const setup = await buildSetup(config, api);
  try {
    if (args.resume) {
      await removeCheckpointLeftovers(runDir);
      // The newest checkpoint that passes its manifest and loads; damaged ones are named.
      const saved = await loadLatestCheckpoint(
        runDir,
        (dir) => loadTrainState(setup.state, dir),
        (line) => console.error(line),
      );
      if (saved) startIteration = saved.value.iteration;
      if (args.layers.length > 0) await writeJsonAtomic(`${runDir}/config.json`, config);
      await truncateMetrics(metricsPath, startIteration);
      // the API counts go on from where the kept iterations left them
      const last = (await readJsonl<Record<string, number>>(metricsPath)).at(-1);
      if (api.stats && last) {
        api.stats.requests = last.api_requests ?? 0;
        api.stats.retries = last.api_retries ?? 0;
        api.stats.cacheHits = last.api_cache_hits ?? 0;
        api.stats.promptTokens = last.api_prompt_tokens ?? 0;
        api.stats.completionTokens = last.api_completion_tokens ?? 0;
      }
      console.error(
        `resuming ${runDir} at iteration ${startIteration}` +
          (args.layers.length > 0 ? ` (now ${total} iterations in all)` : ""),
      );
    }
    // a LoRA policy folder names its base: the folder the learner came from, or one written here
    const lora = setup.learner.lora
      ? { baseDir: setup.learnerDir ?? await writeLoraBase(setup.learner, runDir) }
      : {};
    const localLearner = setup.state.learner;
    const rollout = config.rollout.kind === "api"
      ? remoteRollouts(
        config,
        setup.learner as GPT2LM,
        localLearner,
        `${await Deno.realPath(runDir)}/rollout_adapters`,
        lora.baseDir!,
      )
      : null;
    if (rollout) {
      const { generator } = rollout;
      setup.state.learner = remoteSampling(
        localLearner,
        generator,
        config.rollout.serverLogProbs
          ? (sequence) => generator.servedLogProbs(sequence)
          : undefined,
      );
    }
    const progress = new Progress(`train ${config.algo}`, total - startIteration);
    const checkpoint = async (iteration: number) => {
      await writeCheckpoint(runDir, iteration, async (dir) => {
        await saveTrainState(setup.state, iteration, dir);
        await savePolicyFolder(setup.learner, setup.tokenizer, config, `${dir}/policy`, {
          command,
          iterations: iteration,
          trainRecords: setup.state.records.length,
        }, lora);
      }, config.checkpoint.keep);
    };
    let done = 0;
    await lastValueFrom(
      runAlgorithm(config.algo, setup.state, config.train, {
        startIteration,
        afterIteration: async (metrics: { iteration: number }) => {
          await appendJsonl(metricsPath, {
            ...metrics,
            ...apiMetrics(api.stats),
            ...(rollout ? rolloutMetrics(rollout.stats) : {}),
          });
          const finished = metrics.iteration + 1;
          if (finished % config.checkpoint.every === 0 || finished === total) {
            await checkpoint(finished);
          }
        },
      }).pipe(
        tap((m) => {
          done++;
          const r = m as { reward_mean: number; kl?: number; phase: string };
          progress.update(done, {
            phase: r.phase,
            reward: r.reward_mean.toFixed(3),
            ...(r.kl !== undefined ? { kl: r.kl.toFixed(3) } : {}),
          });
        }),
      ),
      { defaultValue: null },
    );
    progress.finish();
    setup.state.learner = localLearner; // the evaluation samples here
    await rollout?.generator.close();
    const evaluation = await evaluateSetup(config, setup, "learner (trained)");
    await savePolicyFolder(setup.learner, setup.tokenizer, config, `${runDir}/policy`, {
      command,
      evaluation: evaluation.rows,
      iterations: total,
      trainRecords: setup.state.records.length,
    }, { ...lora, merged: true });
    await writeJsonAtomic(`${runDir}/evaluation.json`, evaluation.rows);
    await writeFileAtomic(
      `${runDir}/eval_generations.jsonl`,
      evaluation.perPrompt.map((row) => JSON.stringify(row) + "\n").join(""),
    );
    const samples = setup.evalRecords.slice(0, 8).map((record, i) => ({
      prompt: record.prompt,
      before: evaluation.generations["zero-shot"]?.[i] ?? "",
      after: evaluation.generations["learner (trained)"]?.[i] ?? "",
    }));
    await writeFileAtomic(
      `${runDir}/samples.jsonl`,
      samples.map((s) => JSON.stringify(s) + "\n").join(""),
    );
    const learnerRow = evaluation.rows[0];
    const guideRow = evaluation.rows.find((r) => r.model === "guide" || r.model === "BC guide");
    const summary = learnerRow && guideRow
      ? `Learner reward ${Number(learnerRow.reward_mean).toFixed(4)} vs guide ${
        Number(guideRow.reward_mean).toFixed(4)
      } on ${setup.evalRecords.length} held-out prompts (${
        Number(learnerRow.reward_mean) >= Number(guideRow.reward_mean) ? "+" : ""
      }${(Number(learnerRow.reward_mean) - Number(guideRow.reward_mean)).toFixed(4)}).`
      : undefined;
    // from the folder's files, as `deno task report RUN` renders it again
    await writeRunReport(runDir, summary);
    if (summary) console.log(summary);
    console.log(`run folder: ${runDir} (report: ${runDir}/report.html)`);
    return runDir;
  } finally {
    setup.dispose();
  }
}

if (import.meta.main) Deno.exit(await runCommand(() => train(Deno.args), CONSOLE_IO));

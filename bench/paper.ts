/**
 * `deno task bench:paper`: reproduces the paper's analyses (Tables 1–3, Figure 3)
 * by training every grid cell with cli/train.ts (in-process), then aggregating
 * each run folder's evaluation.json (and the per-prompt rewards this bench adds)
 * into bench/results/paper.md and paper.json. A run folder that already holds
 * evaluation.json is reused; one with a config but no evaluation is resumed.
 * @module
 */
import { lastValueFrom } from "rxjs";
import { writeFileAtomic, writeJsonAtomic } from "../core/atomic.ts";
import { ConfigError, InputError } from "../core/errors.ts";
import { exists } from "../core/fs.ts";
import { Rng } from "../core/prng.ts";
import { initBackend } from "../models/backend.ts";
import { choiceFlag, integerFlag, parseFlags } from "../cli/flags.ts";
import { textGuide } from "../models/text_guide.ts";
import { completionsApi } from "../models/completions_api.ts";
import { GPT2LM } from "../models/gpt2.ts";
import { T5LM } from "../models/t5.ts";
import { loadPolicy, type PolicyModel, savePolicy } from "../models/t5_checkpoint.ts";
import { type EngineMode, onEngine, openEngine, standalonePolicy } from "../models/engine/mod.ts";
import type { TokenGenerator, Tokenizer } from "../models/types.ts";
import { evaluatePolicy } from "../pipelines/evaluate.ts";
import { runAlgorithm } from "../pipelines/run_algorithm.ts";
import type { RewardFunction } from "../rewards/types.ts";
import type { PromptRecord, Task } from "../tasks/types.ts";
import { PRESETS, resolveConfig, type RunConfig } from "../cli/config.ts";
import { Progress } from "../cli/progress.ts";
import { readRunFiles, renderComparison } from "../cli/report.ts";
import { appendJsonl } from "../cli/run_dir.ts";
import { assembleSetup, buildTaskParts, type RunSetup } from "../cli/setup.ts";
import { evaluateSetup, finalEvaluationOptions, train } from "../cli/train.ts";
import { CompletionService, contextLengthOf } from "../serve/service.ts";
import { type RunningServer, serveModel } from "../serve/server.ts";
import {
  BUDGETS,
  GRID_ALGOS,
  type GridCell,
  gridCells,
  PAPER_TABLES,
  parseList,
  parseSeeds,
  runName,
} from "./paper_grid.ts";
import {
  barChart,
  type Claim,
  claimsMarkdown,
  figure3,
  learnerRow,
  markdownTable,
  paperClaims,
  paperHtml,
  type PerPrompt,
  type RunResult,
  type Table,
  table1,
  table2,
  table3,
  tableJson,
} from "./paper_tables.ts";

const HELP = `Usage: deno task bench:paper [options]

Trains the grid of the paper's analyses and writes bench/results/paper.md and paper.json.

Options:
  --preset NAME      ${Object.keys(PRESETS).join(" | ")} (default imdb-small)
  --seeds LIST       e.g. 0,1,2 (default 0,1,2)
  --algos LIST       some of ${GRID_ALGOS.join(",")} (default all)
  --tables LIST      some of ${PAPER_TABLES.join(",")} (default all)
  --iterations N     RL iterations of every run (default: the preset's)
  --out DIR          where paper.md and paper.json go (default bench/results)
  --runs DIR         where run folders go (default runs/paper); finished runs are reused
  --prune            delete each finished run's checkpoints and model folders, keeping its
                     config, metrics, evaluation, per-prompt results and report (a few hundred
                     KB), so that a grid spanning several sittings can commit its --runs folder
  --api-guide DIR    Table 3: serve this GPT-2 folder (with its tokenizer.json, or the task's
                     tokenizer) as the text-API guide (default: the preset's own guide)
  -h, --help         this text`;

/** The parsed command line. */
export interface PaperArgs {
  preset: string;
  seeds: number[];
  algos: string[];
  tables: string[];
  iterations: number | null;
  out: string;
  runs: string;
  /** Table 3's API model: a GPT-2 folder, or null for the preset's guide. */
  apiGuide: string | null;
  /** Delete finished runs' checkpoints and model folders. */
  prune: boolean;
}

/**
 * Parses the bench's flags.
 * @param argv the arguments
 * @returns the options, or null for --help
 * @throws {FlagError} naming the bad flag
 */
export function parsePaperArgs(argv: string[]): PaperArgs | null {
  const { values } = parseFlags(argv, {
    preset: { type: "string" },
    seeds: { type: "string" },
    algos: { type: "string" },
    tables: { type: "string" },
    iterations: { type: "string" },
    out: { type: "string" },
    runs: { type: "string" },
    "api-guide": { type: "string" },
    prune: { type: "boolean" },
  });
  if (values.help) return null;
  const preset = choiceFlag("--preset", values.preset, Object.keys(PRESETS), "preset") ??
    "imdb-small";
  const iterations = integerFlag("--iterations", values.iterations, 1) ?? null;
  return {
    preset,
    seeds: parseSeeds(values.seeds ?? "0,1,2"),
    algos: values.algos ? parseList("--algos", values.algos, GRID_ALGOS) : [...GRID_ALGOS],
    tables: values.tables ? parseList("--tables", values.tables, PAPER_TABLES) : [...PAPER_TABLES],
    iterations,
    out: values.out ?? "bench/results",
    runs: values.runs ?? "runs/paper",
    apiGuide: values["api-guide"] ?? null,
    prune: values.prune === true,
  };
}

/** What `--prune` deletes from a finished run folder (everything else is kept). */
export const PRUNED = ["checkpoints", "policy", "policy-merged", "base", "rollout_adapters"];

/** A cell with its config and the folder it trains in. */
interface PlannedCell {
  cell: GridCell;
  /** The `--config` layer: algo, seed, iterations and the cell's overrides. */
  layer: Record<string, unknown>;
  config: RunConfig;
  dir: string;
}

/**
 * A cell's `--config` layer. On a preset whose learner starts from the BC guide built here
 * (`policy.init: "bc"`, commongen-small), "bc+X" is X from the BC guide's weights and X starts
 * from the zero-shot model; elsewhere "bc+X" runs the BC phase first (pipelines/run_algorithm.ts).
 */
function cellLayer(
  preset: string,
  cell: GridCell,
  iterations: number | null,
): Record<string, unknown> {
  const overrides = structuredClone(cell.overrides) as {
    train?: Record<string, unknown>;
    policy?: Record<string, unknown>;
  };
  const trainLayer = { ...(overrides.train ?? {}), ...(iterations ? { iterations } : {}) };
  let algo = cell.algo;
  if (PRESETS[preset].config.policy.init === "bc") {
    const warm = algo.startsWith("bc+");
    if (warm) algo = algo.slice(3);
    overrides.policy = { ...overrides.policy, init: warm ? "bc" : "pretrained" };
  }
  return { ...overrides, algo, seed: cell.seed, train: trainLayer };
}

/**
 * Resolves each cell's config and run folder. A cell whose overrides leave the
 * config unchanged (e.g. Table 2's default β) shares Table 1's folder.
 */
function planCells(args: PaperArgs, cells: GridCell[]): PlannedCell[] {
  const root = `${args.runs}/${args.preset}`;
  return cells.map((cell) => {
    const layer = cellLayer(args.preset, cell, args.iterations);
    const config = resolveConfig(args.preset, [{
      source: `grid cell ${cell.algo}`,
      values: layer,
    }]);
    let variant = cell.variant;
    if (cell.table === "2") {
      const plain = resolveConfig(args.preset, [{
        source: "grid cell",
        values: cellLayer(args.preset, { ...cell, overrides: {} }, args.iterations),
      }]);
      if (JSON.stringify(plain) === JSON.stringify(config)) variant = "";
    }
    if (cell.apiGuide) {
      // The endpoint's port changes per process; the folder name and config check ignore it.
      config.guide = {
        ...config.guide,
        kind: "api",
        apiUrl: "(local server)",
        apiModel: args.apiGuide ?? "guide",
      };
    }
    return { cell, layer, config, dir: `${root}/${runName(cell, variant)}` };
  });
}

async function readJson<T>(path: string): Promise<T | null> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as T;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw new InputError(`cannot read (${(error as Error).message})`, path);
  }
}

/**
 * `found` with every field it lacks taken from `defaults`: a run written before a
 * config field existed ran with that field's default.
 */
export function withAbsentFields<T>(found: T, defaults: T): T {
  if (
    typeof found !== "object" || found === null || Array.isArray(found) ||
    typeof defaults !== "object" || defaults === null || Array.isArray(defaults)
  ) return found;
  // In the defaults' key order, so that equal configs stringify equally.
  const given = found as Record<string, unknown>;
  const filled: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(defaults)) {
    filled[key] = key in given ? withAbsentFields(given[key], value) : value;
  }
  for (const key of Object.keys(given)) if (!(key in filled)) filled[key] = given[key];
  return filled as T;
}

/** Throws when a folder's config is not the one this cell needs. */
function checkSameConfig(
  dir: string,
  found: RunConfig,
  expected: RunConfig,
  preset: string,
): void {
  const strip = (c: RunConfig) => ({ ...c, guide: { ...c.guide, apiUrl: null } });
  const upgraded = withAbsentFields(found, resolveConfig(preset, []));
  if (JSON.stringify(strip(upgraded)) !== JSON.stringify(strip(expected))) {
    throw new InputError(
      "run folder holds a run with another config (e.g. other --iterations); " +
        "use another --runs folder or delete it",
      `${dir}/config.json`,
    );
  }
}

/**
 * Each held-out prompt's difficulty: CommonGen, its concepts (`meta.concepts`)
 * absent from every training record; otherwise the reward of the prompt alone
 * with an empty continuation (IMDB: the prompt's own sentiment).
 * @param task the task (its train split is read for CommonGen)
 * @param reward the run's reward
 * @param records the held-out prompts
 * @returns one value per record and how to group them
 */
export async function promptDifficulty(
  task: Task,
  reward: RewardFunction,
  records: PromptRecord[],
): Promise<{ difficulty: number[]; kind: PerPrompt["difficultyKind"] }> {
  if (task.name === "commongen") {
    const seen = new Set<string>();
    for (const r of await task.records("train")) {
      for (const c of (r.meta?.concepts as string[] | undefined) ?? []) seen.add(c);
    }
    return {
      kind: "unseen-concepts",
      difficulty: records.map((r) =>
        ((r.meta?.concepts as string[] | undefined) ?? []).filter((c) => !seen.has(c)).length
      ),
    };
  }
  const difficulty = await reward({
    prompts: records.map((r) => r.prompt),
    generations: records.map(() => ""),
    references: records.map((r) => r.references),
  });
  return { kind: "prompt-reward", difficulty };
}

/**
 * A run's reward per held-out prompt, with each prompt's difficulty. The saved
 * policy (`RUN/policy`) is re-evaluated with the prompts, random stream and
 * decoding of train.ts's final evaluation; a pruned run (no policy) is read from
 * the learner's lines of `RUN/eval_generations.jsonl`, which train.ts wrote with
 * the same rewards.
 * @param config the run's config
 * @param dir the run folder
 * @returns the per-prompt rewards and difficulty
 */
export async function perPromptOfRun(config: RunConfig, dir: string): Promise<PerPrompt> {
  const rng = new Rng(config.seed);
  const parts = await buildTaskParts(config, rng);
  const pruned = !(await exists(`${dir}/policy`));
  let policy: PolicyModel | undefined;
  let setup: RunSetup | undefined;
  try {
    if (!pruned) {
      parts.learner.dispose();
      policy = await loadPolicy(`${dir}/policy`);
    }
    // Assembled like train.ts's run, so the policy runs on the same engine and sees the same prompts.
    setup = await assembleSetup(config, policy ? { ...parts, learner: policy } : parts, rng);
    const rewards = pruned
      ? await learnerRewardsFromGenerations(dir, setup.evalRecords)
      : (await evaluatePolicy(
        setup.state.learner,
        setup.evalRecords,
        finalEvaluationOptions(config, setup),
      )).rewards;
    const { difficulty, kind } = await promptDifficulty(
      setup.task,
      setup.state.reward,
      setup.evalRecords,
    );
    return {
      ids: setup.evalRecords.map((r) => r.id),
      rewards,
      difficulty,
      difficultyKind: kind,
    };
  } finally {
    if (setup) {
      setup.dispose();
    } else {
      (policy ?? parts.learner).dispose();
      for (const o of parts.owned) o.dispose();
    }
  }
}

/** The trained learner's reward for each record, from a run's eval_generations.jsonl. */
async function learnerRewardsFromGenerations(
  dir: string,
  records: PromptRecord[],
): Promise<number[]> {
  const file = `${dir}/eval_generations.jsonl`;
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new InputError(
        "the run was pruned (no policy/) and has no eval_generations.jsonl to read " +
          "per-prompt rewards from; delete the run folder to retrain it",
        file,
      );
    }
    throw e;
  }
  const byId = new Map<string, number>();
  text.split("\n").forEach((line, i) => {
    if (!line.trim()) return;
    let row: { model?: unknown; id?: unknown; reward?: unknown };
    try {
      row = JSON.parse(line);
    } catch {
      throw new InputError("malformed JSON line", `${file}:${i + 1}`);
    }
    if (row.model !== "learner (trained)") return;
    if (typeof row.id !== "string" || typeof row.reward !== "number") {
      throw new InputError("expected a string id and a numeric reward", `${file}:${i + 1}`);
    }
    byId.set(row.id, row.reward);
  });
  return records.map((r) => {
    const reward = byId.get(r.id);
    if (reward === undefined) {
      throw new InputError(`no "learner (trained)" line for held-out prompt ${r.id}`, file);
    }
    return reward;
  });
}

/** The served model on ONNX Runtime when it is a GPT-2 or T5 and the config allows (as train.ts's guide). */
async function accelerated(model: TokenGenerator, engine: string): Promise<TokenGenerator> {
  if (!(model instanceof GPT2LM) && !(model instanceof T5LM)) return model;
  const served = await openEngine(model.config, engine as EngineMode, { training: false });
  return onEngine(model, served);
}

/**
 * The kind of guide Table 3 serves behind the text API. The paper's API guide (GPT-3) is
 * stronger than its BC guide; on IMDB from a base model the stand-in is that base trained
 * further on positive reviews (`guide.kind: "strong"`); elsewhere the preset's own guide.
 * @param preset the preset's name
 */
export function table3GuideKind(preset: string): string {
  const config = PRESETS[preset].config;
  return config.task.name === "imdb" && config.policy.source === "base"
    ? "strong"
    : config.guide.kind;
}

/**
 * Trains a Table 3 cell: the task's own guide model (the BC guide, the toy guide)
 * is served over HTTP by `serve` (serve/) on 127.0.0.1 and the learner trains through
 * `guide.kind: api`, the production client (seeded sampling, token-id prompts when the
 * vocabularies match). Written like train.ts's run folder, without checkpoints.
 */
async function trainWithApiGuide(
  planned: PlannedCell,
  preset: string,
  apiGuideDir: string | null,
): Promise<void> {
  const { config, dir } = planned;
  // buildTaskParts may adjust the config (the toy task turns EOS off); the folder keeps it as planned.
  const runConfig = structuredClone(config);
  const rng = new Rng(config.seed);
  // The parts are built with the preset's Table 3 guide, which becomes the API's backing model.
  const guide = { ...PRESETS[preset].config.guide, kind: table3GuideKind(preset) };
  const parts = await buildTaskParts({ ...config, guide }, rng);
  let served: { model: TokenGenerator; tokenizer: Tokenizer; dispose?: () => void } | undefined;
  let server: RunningServer | undefined;
  let setup: RunSetup | undefined;
  try {
    if (apiGuideDir) {
      const model = await loadPolicy(apiGuideDir);
      const { policy, dispose } = await standalonePolicy(model);
      served = { model: policy, tokenizer: model.tokenizer ?? parts.tokenizer, dispose };
      if (!model.tokenizer && model.config.vocabSize !== parts.tokenizer.vocabSize) {
        throw new InputError(
          "the API guide has no tokenizer.json and its vocabulary differs from the task's tokenizer",
          apiGuideDir,
        );
      }
    } else if (parts.guide) {
      served = { model: parts.guide, tokenizer: parts.tokenizer };
    } else {
      throw new ConfigError("guide.kind", `preset "${preset}" has no guide to serve for Table 3`);
    }
    const backing = await accelerated(served.model, config.engine);
    const service = new CompletionService({
      name: config.guide.apiModel ?? "guide",
      model: backing,
      tokenizer: served.tokenizer,
      contextLength: contextLengthOf(backing),
    }, { seed: config.seed });
    server = serveModel(service, { port: 0 });
    const url = `${server.baseUrl}/completions`;
    const apiGuide: TokenGenerator = textGuide(
      completionsApi({
        url,
        model: config.guide.apiModel ?? "guide",
        // the same vocabulary: the server continues the learner's exact tokens
        tokenIds: served.tokenizer === parts.tokenizer,
      }),
      parts.tokenizer,
    );
    parts.guide = apiGuide;
    parts.baselines = [{ name: "API guide", policy: apiGuide }];
    runConfig.guide.apiUrl = url;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    await Deno.mkdir(dir, { recursive: true });
    await writeJsonAtomic(`${dir}/config.json`, runConfig);
    setup = await assembleSetup(config, parts, rng);
    const total = config.train.iterations +
      (config.algo.startsWith("bc") ? config.train.bc.iterations : 0);
    const progress = new Progress(`train ${config.algo} (API guide)`, total);
    let done = 0;
    await lastValueFrom(
      runAlgorithm(config.algo, setup.state, config.train, {
        afterIteration: async (m: { iteration: number }) => {
          await appendJsonl(`${dir}/metrics.jsonl`, m);
          progress.update(++done);
        },
      }),
      { defaultValue: null },
    );
    progress.finish();
    const evaluation = await evaluateSetup(config, setup, "learner (trained)");
    const rows = evaluation.rows;
    const learnerRewards = evaluation.perPrompt
      .filter((row) => row.model === "learner (trained)")
      .map((row) => row.reward);
    const { difficulty, kind } = await promptDifficulty(
      setup.task,
      setup.state.reward,
      setup.evalRecords,
    );
    await writeJsonAtomic(
      `${dir}/per_prompt.json`,
      {
        ids: setup.evalRecords.map((r) => r.id),
        rewards: learnerRewards,
        difficulty,
        difficultyKind: kind,
      } satisfies PerPrompt,
    );
    await savePolicy(setup.learner, `${dir}/policy`);
    await writeJsonAtomic(`${dir}/evaluation.json`, rows);
  } finally {
    if (setup) {
      setup.dispose();
    } else {
      parts.learner.dispose();
      for (const o of parts.owned) o.dispose();
    }
    await server?.close();
    served?.dispose?.();
  }
}

/** Makes sure a planned cell's run folder is finished; returns whether it trained now. */
async function ensureRun(planned: PlannedCell, args: PaperArgs, needPerPrompt: boolean) {
  const { dir, config, cell } = planned;
  const found = await readJson<RunConfig>(`${dir}/config.json`);
  if (found) checkSameConfig(dir, found, config, args.preset);
  const finished = await readJson<unknown[]>(`${dir}/evaluation.json`);
  let trained = false;
  if (!finished) {
    trained = true;
    if (cell.apiGuide) {
      await trainWithApiGuide(planned, args.preset, args.apiGuide);
    } else if (found) {
      await train(["--resume", dir]);
    } else {
      const configFile = `${args.runs}/${args.preset}/configs/${dir.split("/").at(-1)}.json`;
      await Deno.mkdir(`${args.runs}/${args.preset}/configs`, { recursive: true });
      await writeJsonAtomic(configFile, planned.layer);
      await train(["--preset", args.preset, "--config", configFile, "--out", dir]);
    }
  }
  if (needPerPrompt && !(await readJson<PerPrompt>(`${dir}/per_prompt.json`))) {
    const perPrompt = await perPromptOfRun(config, dir);
    // train.ts may have evaluated on the ONNX engine; the reloaded policy runs on tfjs.
    const rows = await readJson<Record<string, string | number>[]>(`${dir}/evaluation.json`);
    const logged = rows ? learnerRow(rows)?.reward_mean : undefined;
    const mean = perPrompt.rewards.reduce((a, b) => a + b, 0) /
      Math.max(1, perPrompt.rewards.length);
    if (typeof logged === "number" && Math.abs(logged - mean) > 1e-6) {
      console.error(
        `note: ${dir}: per-prompt re-evaluation mean ${mean.toFixed(4)} differs from ` +
          `evaluation.json's ${logged.toFixed(4)}`,
      );
    }
    await writeJsonAtomic(`${dir}/per_prompt.json`, perPrompt);
  }
  if (args.prune) {
    for (const name of PRUNED) {
      await Deno.remove(`${dir}/${name}`, { recursive: true }).catch(() => {});
    }
  }
  return trained;
}

/**
 * Reads a finished run folder into a {@linkcode RunResult}.
 * @param dir the run folder
 * @param cell the grid cell it serves
 * @returns the result (perPrompt when per_prompt.json is there)
 * @throws {InputError} when evaluation.json is missing or not an array
 */
export async function readRun(
  dir: string,
  cell: Pick<GridCell, "table" | "algo" | "variant" | "seed">,
): Promise<RunResult> {
  const evaluation = await readJson<Record<string, string | number>[]>(`${dir}/evaluation.json`);
  if (!Array.isArray(evaluation)) {
    throw new InputError("expected an array of evaluation rows", `${dir}/evaluation.json`);
  }
  const budget = await sampleBudget(dir);
  const learner = learnerRow(evaluation);
  if (learner && budget) Object.assign(learner, budget);
  const perPrompt = await readJson<PerPrompt>(`${dir}/per_prompt.json`);
  if (perPrompt && perPrompt.rewards.length !== perPrompt.difficulty.length) {
    throw new InputError("rewards and difficulty differ in length", `${dir}/per_prompt.json`);
  }
  return {
    table: cell.table,
    algo: cell.algo,
    variant: cell.variant,
    seed: cell.seed,
    dir,
    evaluation,
    ...(perPrompt ? { perPrompt } : {}),
  };
}

/**
 * What a run's learner sampled in its RL iterations (metrics.jsonl; BC's reference tokens
 * are not samples): trajectories and tokens, so algorithms compare at equal budgets. A run
 * from before `trajectories` was logged counts its config's `trajectoriesPerUpdate`.
 * @param dir the run folder
 * @returns the counts, or null without metrics.jsonl
 */
export async function sampleBudget(
  dir: string,
): Promise<{ sampled_trajectories: number; sampled_tokens: number } | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(`${dir}/metrics.jsonl`);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  const config = await readJson<RunConfig>(`${dir}/config.json`);
  let trajectories = 0, tokens = 0;
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    let row: Record<string, unknown>;
    try {
      row = JSON.parse(line);
    } catch {
      throw new InputError(`line ${i + 1}: expected a JSON object`, `${dir}/metrics.jsonl`);
    }
    if (row.phase === "bc" || typeof row.tokens !== "number") return;
    trajectories += typeof row.trajectories === "number"
      ? row.trajectories
      : config?.train.trajectoriesPerUpdate ?? 0;
    tokens += row.tokens;
  });
  return { sampled_trajectories: trajectories, sampled_tokens: tokens };
}

/** The analyses of finished runs. */
export interface PaperReport {
  tables: { id: string; table: Table }[];
  /** The paper's comparisons checked on Table 1's runs (empty without Table 1). */
  claims: Claim[];
  markdown: string;
  /** The same as one HTML page: tables, bar charts (±std whiskers) and the comparisons. */
  html: string;
}

/**
 * Builds the chosen tables from finished runs and renders them.
 * @param runs the runs, tagged with their grid cells
 * @param options the tables, the algorithms (row order) and a header paragraph
 * @returns the tables and the Markdown (Figure 3 also as an inline SVG chart)
 */
export function paperReport(
  runs: readonly RunResult[],
  options: { tables: readonly string[]; algos: readonly string[]; header: string },
): PaperReport {
  const tables: { id: string; table: Table }[] = [];
  const sections: string[] = [options.header];
  let claims: Claim[] = [];
  if (options.tables.includes("1")) {
    const t = table1(runs, options.algos);
    tables.push({ id: "1", table: t });
    sections.push(markdownTable(t));
    claims = paperClaims(runs);
    if (claims.length > 0) sections.push(claimsMarkdown(claims));
  }
  if (options.tables.includes("2")) {
    const t = table2(runs, BUDGETS);
    tables.push({ id: "2", table: t });
    sections.push(markdownTable(t));
  }
  if (options.tables.includes("fig3")) {
    const t = figure3(runs, options.algos);
    tables.push({ id: "fig3", table: t });
    sections.push(markdownTable(t), "", barChart(t));
  }
  if (options.tables.includes("3")) {
    const t = table3(runs);
    tables.push({ id: "3", table: t });
    sections.push(markdownTable(t));
  }
  return {
    tables,
    claims,
    markdown: sections.join("\n\n") + "\n",
    html: paperHtml(options.header, tables.map((t) => t.table), claims),
  };
}

function decodingText(evaluation: RunConfig["evaluation"]): string {
  if (evaluation.doSample) return "sampled decoding, the run's evaluation stream";
  return evaluation.numBeams > 1 ? `beam search, ${evaluation.numBeams} beams` : "greedy decoding";
}

/** Runs the bench; returns the report. */
export async function paper(argv: string[]): Promise<PaperReport | null> {
  const args = parsePaperArgs(argv);
  if (!args) {
    console.log(HELP);
    return null;
  }
  await initBackend();
  const planned = planCells(args, gridCells(args));
  const unique = [...new Map(planned.map((p) => [p.dir, p])).values()];
  // Runs finished in an earlier sitting count as done, not toward the rate (the ETA is of training).
  let finishedBefore = 0;
  for (const p of unique) if (await readJson(`${p.dir}/evaluation.json`)) finishedBefore++;
  const progress = new Progress("paper", unique.length, {
    unit: "run",
    plainEveryMs: 0,
    initial: finishedBefore,
  });
  const started = performance.now();
  let trainedNow = 0;
  for (const p of unique) {
    const needPerPrompt = args.tables.includes("fig3") &&
      planned.some((q) => q.dir === p.dir && q.cell.table === "1");
    if (!(await ensureRun(p, args, needPerPrompt))) continue;
    trainedNow++;
    progress.update(finishedBefore + trainedNow, { last: p.dir.split("/").at(-1)! });
  }
  progress.finish();
  const runs = await Promise.all(planned.map((p) => readRun(p.dir, p.cell)));
  const command = `deno task bench:paper ${argv.join(" ")}`.trim();
  const header = [
    `# Paper analyses (preset ${args.preset})`,
    "",
    `Produced by \`${command}\`: preset **${args.preset}**, seeds ${args.seeds.join(", ")}, ` +
    `iterations ${args.iterations ?? "(the preset's)"}, algorithms ${args.algos.join(", ")}, ` +
    `run folders under \`${args.runs}/${args.preset}\` (${unique.length} runs, ${trainedNow} ` +
    `trained now, ${((performance.now() - started) / 1000).toFixed(0)} s).`,
    "Every number is a mean ± sample std over seeds of the learner evaluated alone on the " +
    `held-out prompts (${decodingText(PRESETS[args.preset].config.evaluation)}).`,
    ...(PRESETS[args.preset].config.policy.init === "bc"
      ? [
        "",
        `On ${args.preset} the rows named X start from the zero-shot model and the rows named ` +
        "bc+X from the BC guide's weights (the paper warm-starts its CommonGen runs with BC); " +
        "the bc row is BC trained in the run from the zero-shot model.",
      ]
      : []),
    ...(args.preset === "toy"
      ? [
        "",
        "**These are toy-preset results that check the pipeline, not the paper's numbers.** " +
        "The real grid: `deno task bench:paper --preset imdb-small --seeds 0,1,2` (and " +
        "`--preset commongen-small`): 63 runs of 30 iterations; one imdb-small iteration " +
        "took about 18 s on this 2-core machine, so expect 10–20 hours per task.",
      ]
      : []),
  ].join("\n");
  const report = paperReport(runs, { tables: args.tables, algos: args.algos, header });
  await Deno.mkdir(args.out, { recursive: true });
  await writeFileAtomic(`${args.out}/paper.md`, report.markdown);
  await writeFileAtomic(`${args.out}/paper.html`, report.html);
  // every run of the grid in one page: curves overlaid, evaluation rows, warnings
  const compared = await Promise.all(unique.map(async (p) => {
    const files = await readRunFiles(p.dir);
    return { name: p.dir.split("/").at(-1)!, ...files };
  }));
  await writeFileAtomic(
    `${args.out}/paper_runs.html`,
    renderComparison(compared, `Paper grid runs (preset ${args.preset})`),
  );
  await writeJsonAtomic(`${args.out}/paper.json`, {
    command,
    preset: args.preset,
    seeds: args.seeds,
    iterations: args.iterations,
    algos: args.algos,
    tables: report.tables.map(({ id, table }) => ({ id, ...tableJson(table) })),
    claims: report.claims,
    runs: runs.map((r) => ({
      table: r.table,
      algo: r.algo,
      variant: r.variant,
      seed: r.seed,
      dir: r.dir,
      evaluation: r.evaluation,
    })),
  });
  console.log(report.markdown.replace(/<svg[\s\S]*?<\/svg>/g, "(chart in paper.md)"));
  console.log(
    `wrote ${args.out}/paper.md, paper.html, paper.json and paper_runs.html`,
  );
  return report;
}

if (import.meta.main) {
  try {
    await paper(Deno.args);
  } catch (error) {
    const known = error instanceof InputError || error instanceof ConfigError;
    console.error(`error: ${(error as Error).message}`);
    if (!known) console.error((error as Error).stack);
    Deno.exit(1);
  }
}

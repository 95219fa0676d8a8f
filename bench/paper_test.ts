import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { ConfigError } from "../core/errors.ts";
import { initBackend } from "../models/backend.ts";
import type { PromptRecord, Task } from "../tasks/types.ts";
import {
  paper,
  paperReport,
  parsePaperArgs,
  promptDifficulty,
  readRun,
  sampleBudget,
  withAbsentFields,
} from "./paper.ts";
import { gridCells, PAPER_ALGOS, parseList, parseSeeds, runName } from "./paper_grid.ts";
import {
  barChart,
  difficultyGroups,
  figure3,
  formatMeanStd,
  groupMeans,
  meanStd,
  type PerPrompt,
  table1,
  table2,
  table3,
} from "./paper_tables.ts";

Deno.test("meanStd: mean and sample std, hand-computed", () => {
  const s = meanStd([1, 2, 3, 4]);
  assert.equal(s.mean, 2.5);
  // Σ(x − 2.5)² = 5, / (n − 1) = 5/3
  assert.ok(Math.abs(s.std - Math.sqrt(5 / 3)) < 1e-12);
  assert.equal(s.n, 4);
  assert.deepEqual(meanStd([0.7]), { mean: 0.7, std: 0, n: 1 });
  assert.equal(meanStd([NaN, 2, Infinity]).n, 1);
  assert.equal(meanStd([]).n, 0);
  assert.equal(formatMeanStd(meanStd([0.4, 0.6])), "0.500 ± 0.141");
  assert.equal(formatMeanStd(null), "–");
});

Deno.test("grid: flags parse, cells per table, folder names", () => {
  assert.deepEqual(parseSeeds("0, 2,2,1"), [0, 2, 1]);
  assert.throws(() => parseSeeds("0,x"), ConfigError);
  assert.throws(() => parseSeeds("-1"), /--seeds/);
  assert.deepEqual(parseList("--algos", "ppo,bc+lols", PAPER_ALGOS), ["ppo", "bc+lols"]);
  assert.throws(() => parseList("--algos", "ppo,dagger", PAPER_ALGOS), /"dagger"/);
  const cells = gridCells({ algos: PAPER_ALGOS, seeds: [0, 1], tables: ["1", "2", "3"] });
  const count = (t: string) => cells.filter((c) => c.table === t).length;
  assert.equal(count("1"), 11 * 2);
  assert.equal(count("2"), 3 * 3 * 2);
  assert.equal(count("3"), 4 * 2);
  assert.ok(cells.filter((c) => c.table === "3").every((c) => c.apiGuide));
  const d2 = cells.find((c) => c.table === "2" && c.algo === "d2lols" && c.variant === "switch0.5");
  assert.deepEqual(d2?.overrides, {
    train: { d2lols: { switchFraction: 0.5, switchIteration: -1 } },
  });
  // Figure 3 alone still needs Table 1's runs; Table 2 only for the algorithms asked for.
  const fig = gridCells({ algos: ["ppo", "ppo++"], seeds: [3], tables: ["fig3", "2"] });
  assert.deepEqual(fig.map((c) => `${c.table}:${c.algo}:${c.variant}`), [
    "1:ppo:",
    "1:ppo++:",
    "2:ppo++:beta0.2",
    "2:ppo++:beta0.5",
    "2:ppo++:beta0.8",
  ]);
  const t3 = gridCells({ algos: ["ppo", "lols"], seeds: [0], tables: ["3"] });
  assert.deepEqual(t3.map((c) => `${c.table}:${c.algo}:${c.apiGuide}`), [
    "1:lols:false",
    "3:lols:true",
  ]);
  assert.equal(runName({ algo: "bc+ppo++", seed: 2 }, ""), "bcpppopp-seed2");
  assert.equal(runName({ algo: "aggrevated", seed: 0 }, "beta0.5"), "aggrevated-beta0.5-seed0");
});

Deno.test("parsePaperArgs: defaults and bad flags", () => {
  const a = parsePaperArgs([])!;
  assert.equal(a.preset, "imdb-small");
  assert.deepEqual(a.seeds, [0, 1, 2]);
  assert.deepEqual(a.algos, [...PAPER_ALGOS, "grpo", "rloo", "rebel", "drpo", "grpo++"]);
  assert.deepEqual(a.tables, ["1", "2", "3", "fig3"]);
  assert.equal(a.iterations, null);
  assert.equal(a.runs, "runs/paper");
  assert.equal(parsePaperArgs(["--help"]), null);
  assert.throws(() => parsePaperArgs(["--iterations", "0"]), /--iterations/);
  assert.throws(() => parsePaperArgs(["--tables", "1,4"]), /"4"/);
  assert.throws(() => parsePaperArgs(["--preset", "nope"]), /--preset/);
});

Deno.test("difficultyGroups: terciles by rank with ties kept together, hand-computed", () => {
  // sorted: 0.1 0.2 0.3 0.5 0.7 0.9; tercile = floor(3 · #lower / 6)
  assert.deepEqual(
    difficultyGroups([0.9, 0.1, 0.5, 0.3, 0.7, 0.2], "prompt-reward"),
    [2, 0, 1, 1, 2, 0],
  );
  assert.deepEqual(difficultyGroups([1, 1, 1], "prompt-reward"), [0, 0, 0]);
  assert.deepEqual(difficultyGroups([0, 0, 1, 1, 1, 2], "prompt-reward"), [0, 0, 1, 1, 1, 2]);
  assert.deepEqual(difficultyGroups([0, 2, 1, 0], "unseen-concepts"), [0, 2, 1, 0]);
  const means = groupMeans({
    ids: ["a", "b", "c", "d", "e", "f"],
    rewards: [1, 2, 3, 4, 5, 6],
    difficulty: [0.9, 0.1, 0.5, 0.3, 0.7, 0.2],
    difficultyKind: "prompt-reward",
  });
  // group 0: b, f → (2 + 6) / 2; group 1: c, d → 3.5; group 2: a, e → 3
  assert.deepEqual([...means], [[0, 4], [1, 3.5], [2, 3]]);
});

/** Writes a fake finished run folder. */
async function fakeRun(
  dir: string,
  rows: Record<string, string | number>[],
  perPrompt?: PerPrompt,
): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/evaluation.json`, JSON.stringify(rows));
  if (perPrompt) await Deno.writeTextFile(`${dir}/per_prompt.json`, JSON.stringify(perPrompt));
  return dir;
}

Deno.test("tables from fake run folders: Table 1, 2, 3 and Figure 3", async () => {
  const root = await Deno.makeTempDir({ prefix: "paper_test_" });
  try {
    const difficulty = [0.9, 0.1, 0.5, 0.3, 0.7, 0.2];
    const pp = (rewards: number[]): PerPrompt => ({
      ids: difficulty.map((_, i) => `val-${i}`),
      rewards,
      difficulty,
      difficultyKind: "prompt-reward",
    });
    const learner = (reward: number, extra = {}) => ({
      model: "learner (trained)",
      reward_mean: reward,
      ...extra,
    });
    const base = (seed: number) => [
      { model: "zero-shot", reward_mean: 0.1 * seed },
      { model: "guide", reward_mean: 0.9 },
    ];
    const runs = [
      await readRun(
        await fakeRun(
          `${root}/ppo-seed0`,
          [learner(0.2, { ppl: 30 }), ...base(0)],
          pp([0, 0, 0, 0, 1, 0]),
        ),
        { table: "1", algo: "ppo", variant: "", seed: 0 },
      ),
      await readRun(
        await fakeRun(
          `${root}/ppo-seed1`,
          [learner(0.4, { ppl: 40 }), ...base(1)],
          pp([0, 1, 0, 0, 1, 1]),
        ),
        { table: "1", algo: "ppo", variant: "", seed: 1 },
      ),
      await readRun(
        await fakeRun(`${root}/d2-seed0`, [learner(0.8), ...base(0)], pp([1, 1, 1, 1, 1, 1])),
        { table: "1", algo: "d2lols", variant: "", seed: 0 },
      ),
      // Table 2 reuses the Table 1 folder for the default budget.
      await readRun(`${root}/d2-seed0`, {
        table: "2",
        algo: "d2lols",
        variant: "switch0.2",
        seed: 0,
      }),
      await readRun(
        await fakeRun(`${root}/d2-s5`, [learner(0.6)]),
        { table: "2", algo: "d2lols", variant: "switch0.5", seed: 0 },
      ),
      await readRun(
        await fakeRun(`${root}/d2-api`, [learner(0.7), { model: "API guide", reward_mean: 0.95 }]),
        { table: "3", algo: "d2lols", variant: "api", seed: 0 },
      ),
    ];
    const t1 = table1(runs, ["ppo", "d2lols"]);
    assert.deepEqual(t1.columns, ["reward_mean", "ppl"]);
    assert.deepEqual(t1.rows.map((r) => r.label), [
      "ppo",
      "d2lols",
      "(baseline) zero-shot",
      "(baseline) guide",
    ]);
    const ppo = t1.rows[0].cells;
    assert.ok(Math.abs(ppo[0]!.mean - 0.3) < 1e-12);
    assert.ok(Math.abs(ppo[0]!.std - Math.SQRT2 * 0.1) < 1e-12);
    assert.deepEqual(ppo[1], { mean: 35, std: Math.sqrt(50), n: 2 });
    assert.equal(t1.rows[1].cells[1], null); // d2lols has no ppl
    // one zero-shot value per seed (0 and 0.1), not one per run
    assert.equal(t1.rows[2].cells[0]!.n, 2);
    assert.ok(Math.abs(t1.rows[2].cells[0]!.mean - 0.05) < 1e-12);

    const t2 = table2(runs, [0.2, 0.5, 0.8]);
    assert.equal(t2.rows.length, 1);
    assert.deepEqual(t2.rows[0].cells.map((c) => c?.mean ?? null), [0.8, 0.6, null]);

    const t3 = table3(runs);
    assert.deepEqual(t3.rows.map((r) => r.cells.map((c) => c?.mean ?? null)), [
      [0.8, 0.7],
      [0.9, 0.95],
    ]);

    // Terciles of [0.9, 0.1, 0.5, 0.3, 0.7, 0.2]: hard = prompts 1, 5; medium = 2, 3; easy = 0, 4.
    const f3 = figure3(runs, ["ppo", "d2lols"]);
    assert.equal(f3.columns.length, 3);
    const ppoCells = f3.rows[0].cells;
    // seed 0: hard (0+0)/2 = 0, medium 0, easy (0+1)/2 = 0.5; seed 1: hard 1, medium 0, easy 0.5
    assert.deepEqual(ppoCells.map((c) => c!.mean), [0.5, 0, 0.5]);
    assert.ok(Math.abs(ppoCells[0]!.std - Math.SQRT1_2) < 1e-12);
    assert.deepEqual(f3.rows[1].cells.map((c) => c!.mean), [1, 1, 1]);
    assert.match(barChart(f3), /^<svg[\s\S]*<\/svg>$/);
    assert.equal((barChart(f3).match(/<rect [^>]*><title>/g) ?? []).length, 6);

    const report = paperReport(runs, {
      tables: ["1", "2", "3", "fig3"],
      algos: ["ppo", "d2lols"],
      header: "# header",
    });
    assert.deepEqual(report.tables.map((t) => t.id), ["1", "2", "fig3", "3"]);
    assert.match(report.markdown, /\| ppo \| 0\.300 ± 0\.141 \| 35\.000 ± 7\.071 \|/);
    assert.match(
      report.markdown,
      /\| d2lols \(switch at fraction of iterations\) \| 0\.800 ± 0\.000 \| 0\.600 ± 0\.000 \| – \|/,
    );

    await fakeRun(`${root}/bad`, []);
    await Deno.writeTextFile(`${root}/bad/evaluation.json`, "{}");
    await assert.rejects(readRun(`${root}/bad`, runs[0]), /evaluation rows/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("paper: a one-run toy grid trains once, then reuses the folder", async () => {
  const root = await Deno.makeTempDir({ prefix: "paper_e2e_" });
  try {
    const argv = [
      "--preset",
      "toy",
      "--seeds",
      "0",
      "--algos",
      "ppo",
      "--tables",
      "1,fig3",
      "--iterations",
      "1",
      "--runs",
      `${root}/runs`,
      "--out",
      `${root}/out`,
    ];
    await initBackend();
    const tensors = tf.memory().numTensors;
    const first = await paper(argv);
    assert.match(first!.markdown, /1 runs, 1 trained now/);
    // Training and the per-prompt re-evaluation free every tensor they made.
    assert.equal(tf.memory().numTensors, tensors);
    const evaluation = JSON.parse(
      await Deno.readTextFile(`${root}/runs/toy/ppo-seed0/evaluation.json`),
    );
    const perPrompt: PerPrompt = JSON.parse(
      await Deno.readTextFile(`${root}/runs/toy/ppo-seed0/per_prompt.json`),
    );
    // The per-prompt re-evaluation of the saved policy averages to train.ts's number.
    const mean = perPrompt.rewards.reduce((a, b) => a + b, 0) / perPrompt.rewards.length;
    assert.ok(Math.abs(mean - evaluation[0].reward_mean) < 1e-6);
    const second = await paper(argv);
    assert.match(second!.markdown, /1 runs, 0 trained now/);
    const json = JSON.parse(await Deno.readTextFile(`${root}/out/paper.json`));
    assert.deepEqual(json.tables.map((t: { id: string }) => t.id), ["1", "fig3"]);
    // the grid's runs compared in one page (cli/report.ts)
    const page = await Deno.readTextFile(`${root}/out/paper_runs.html`);
    assert.match(page, /<td>ppo-seed0<\/td><td>learner \(trained\)<\/td>/);
    assert.match(page, /<h2>Warnings<\/h2>\s*<h3>ppo-seed0<\/h3>/);
    // --prune keeps what the tables need: the pruned folder gives the same tables
    const pruned = await paper([...argv, "--prune"]);
    const run = `${root}/runs/toy/ppo-seed0`;
    for (const name of ["checkpoints", "policy"]) {
      assert.equal(await Deno.stat(`${run}/${name}`).catch(() => null), null, `${name} pruned`);
    }
    const tables = (md: string) => md.replace(/^.*trained now.*$/m, "");
    assert.equal(tables(pruned!.markdown), tables(second!.markdown));
    assert.match((await paper(argv))!.markdown, /1 runs, 0 trained now/);
    // A pruned run that lacks per_prompt.json (finished while Figure 3 was not asked for) gets it
    // from the learner's lines of eval_generations.jsonl, the policy being gone.
    await Deno.remove(`${run}/per_prompt.json`);
    await paper([...argv, "--prune"]);
    const rebuilt: PerPrompt = JSON.parse(await Deno.readTextFile(`${run}/per_prompt.json`));
    assert.deepEqual(rebuilt.ids, perPrompt.ids);
    assert.deepEqual(rebuilt.difficulty, perPrompt.difficulty);
    rebuilt.rewards.forEach((r, i) => assert.ok(Math.abs(r - perPrompt.rewards[i]) < 1e-6));
    await Deno.remove(`${run}/per_prompt.json`);
    await Deno.remove(`${run}/eval_generations.jsonl`);
    await assert.rejects(paper(argv), /pruned \(no policy\/\).*eval_generations\.jsonl/);
    // Another iteration count must not silently reuse the folder.
    await assert.rejects(paper(argv.with(9, "2")), /another config/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("paper: Table 3 trains through the local text API like through the token guide", async () => {
  const root = await Deno.makeTempDir({ prefix: "paper_api_" });
  try {
    await initBackend();
    const tensors = tf.memory().numTensors;
    const report = await paper([
      "--preset",
      "toy",
      "--seeds",
      "1",
      "--algos",
      "ppo++",
      "--tables",
      "3",
      "--iterations",
      "2",
      "--runs",
      `${root}/runs`,
      "--out",
      `${root}/out`,
    ]);
    assert.equal(tf.memory().numTensors, tensors);
    const t3 = report!.tables.find((t) => t.id === "3")!.table;
    assert.deepEqual(t3.columns, ["token-level guide", "text-API guide"]);
    // The toy guide is deterministic and its text re-tokenises exactly, so training through the
    // API sees the same guide tokens: the same metrics, iteration by iteration.
    const metrics = async (name: string) =>
      (await Deno.readTextFile(`${root}/runs/toy/${name}/metrics.jsonl`)).trim().split("\n")
        .map((line) => JSON.parse(line).reward_mean);
    const viaApi = await metrics("ppopp-api-seed1");
    assert.equal(viaApi.length, 2);
    assert.deepEqual(viaApi, await metrics("ppopp-seed1"));
    const config = JSON.parse(
      await Deno.readTextFile(`${root}/runs/toy/ppopp-api-seed1/config.json`),
    );
    assert.equal(config.guide.kind, "api");
    assert.match(config.guide.apiUrl, /^http:\/\/127\.0\.0\.1:\d+\/v1\/completions$/);
    assert.equal(t3.rows.at(-1)!.cells[0]!.mean, t3.rows.at(-1)!.cells[1]!.mean);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("promptDifficulty: unseen CommonGen concepts and the prompt's own reward", async () => {
  const record = (id: string, concepts: string[]): PromptRecord => ({
    id,
    prompt: concepts.join(" "),
    references: [],
    meta: { concepts },
  });
  const train = [record("t0", ["dog", "ball"]), record("t1", ["ball", "kick", "field"])];
  const task = {
    name: "commongen",
    records: (split: string) => Promise.resolve(split === "train" ? train : []),
  } as unknown as Task;
  const val = [
    record("v0", ["dog", "kick"]),
    record("v1", ["cat", "ball"]),
    record("v2", ["a", "b"]),
  ];
  const never = () => Promise.reject(new Error("CommonGen difficulty must not call the reward"));
  assert.deepEqual(await promptDifficulty(task, never, val), {
    kind: "unseen-concepts",
    difficulty: [0, 1, 2],
  });
  // Other tasks: the reward of the prompt with an empty continuation.
  const seen: string[] = [];
  const reward = (batch: { prompts: string[]; generations: string[] }) => {
    seen.push(...batch.generations);
    return Promise.resolve(batch.prompts.map((p) => p.length / 10));
  };
  const imdb = { ...task, name: "imdb" } as Task;
  assert.deepEqual(await promptDifficulty(imdb, reward, val), {
    kind: "prompt-reward",
    difficulty: [0.8, 0.8, 0.3],
  });
  assert.deepEqual(seen, ["", "", ""]);
});

Deno.test("paper: a run written before a config field existed is checked with that field's default", () => {
  const defaults = { task: { name: "imdb", chatTemplate: false, max: 2 }, seed: 0, list: [1, 2] };
  const old = { seed: 3, task: { name: "imdb", max: 5 }, list: [7] };
  const filled = withAbsentFields(old, defaults);
  // in the defaults' key order, so equal configs stringify equally
  assert.equal(
    JSON.stringify(filled),
    JSON.stringify({ task: { name: "imdb", chatTemplate: false, max: 5 }, seed: 3, list: [7] }),
  );
  // what the old run set is kept, fields unknown to the defaults too
  assert.deepEqual(withAbsentFields({ extra: 1 } as Record<string, unknown>, { a: 2 }), {
    a: 2,
    extra: 1,
  });
});

Deno.test("paper: Table 1 counts each run's sample budget (RL trajectories and tokens, not BC's)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "paper_budget_" });
  try {
    await Deno.writeTextFile(
      `${dir}/config.json`,
      JSON.stringify({ train: { trajectoriesPerUpdate: 32 } }),
    );
    await Deno.writeTextFile(
      `${dir}/metrics.jsonl`,
      [
        { phase: "bc", tokens: 500 },
        { phase: "grpo", trajectories: 32, tokens: 768 },
        { phase: "ppo", tokens: 700 }, // logged before `trajectories` existed
        { phase: "ppo", tokens: 10, trajectories: 4 },
      ].map((r) => JSON.stringify(r)).join("\n") + "\n",
    );
    await Deno.writeTextFile(
      `${dir}/evaluation.json`,
      JSON.stringify([{ model: "learner (trained)", reward_mean: 0.5 }, { model: "zero-shot" }]),
    );
    assert.deepEqual(await sampleBudget(dir), { sampled_trajectories: 68, sampled_tokens: 1478 });
    const run = await readRun(dir, { table: "1", algo: "grpo", variant: "", seed: 0 });
    assert.equal(run.evaluation[0].sampled_tokens, 1478);
    assert.equal(run.evaluation[1].sampled_tokens, undefined); // baselines sample nothing
    await Deno.writeTextFile(`${dir}/metrics.jsonl`, "{oops\n");
    await assert.rejects(
      sampleBudget(dir),
      /metrics\.jsonl.*line 1: expected a JSON object|line 1: expected a JSON object.*metrics\.jsonl/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

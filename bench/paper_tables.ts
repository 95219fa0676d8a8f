/**
 * The paper benchmark's analyses from finished run folders: mean ± std over
 * seeds (Tables 1–3) and the score by prompt difficulty (Figure 3), as Markdown
 * tables, an inline SVG bar chart and JSON. Pure functions of the runs' files.
 * @module
 */
import { terciles } from "../rewards/difficulty.ts";

/** Per-prompt evaluation of one run's learner (the bench's `per_prompt.json`). */
export interface PerPrompt {
  /** The held-out prompts' record ids. */
  ids: string[];
  /** The learner's reward on each prompt. */
  rewards: number[];
  /** Each prompt's difficulty feature (see `difficultyKind`). */
  difficulty: number[];
  /**
   * "prompt-reward": the reward of the prompt alone (IMDB: its own sentiment; higher is
   * easier), grouped in terciles; "unseen-concepts": concepts not in the training split
   * (CommonGen; more is harder), grouped by count.
   */
  difficultyKind: "prompt-reward" | "unseen-concepts";
}

/** One finished run, with the grid cell it serves. */
export interface RunResult {
  table: string;
  algo: string;
  variant: string;
  seed: number;
  dir: string;
  /** The rows of `evaluation.json`: the learner first, then the baselines. */
  evaluation: Record<string, string | number>[];
  perPrompt?: PerPrompt;
}

/** A mean and standard deviation over seeds. */
export interface MeanStd {
  mean: number;
  /** The sample standard deviation (n − 1); 0 for a single value. */
  std: number;
  n: number;
}

/** A table: a header and rows of cells, as shown and as numbers. */
export interface Table {
  title: string;
  columns: string[];
  rows: { label: string; cells: (MeanStd | null)[] }[];
  note?: string;
}

/**
 * Mean and sample standard deviation of the finite values.
 * @param values the values (non-finite ones are skipped)
 * @returns the mean, std and count (NaN mean when none is finite)
 */
export function meanStd(values: readonly number[]): MeanStd {
  const xs = values.filter((v) => Number.isFinite(v));
  const n = xs.length;
  if (n === 0) return { mean: NaN, std: NaN, n: 0 };
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const variance = n > 1 ? xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1) : 0;
  return { mean, std: Math.sqrt(variance), n };
}

/**
 * Formats a mean ± std.
 * @param value the statistic, or null for a missing cell
 * @param digits decimals
 * @returns e.g. `0.512 ± 0.034`, or `–` when missing
 */
export function formatMeanStd(value: MeanStd | null, digits = 3): string {
  if (!value || value.n === 0) return "–";
  return `${value.mean.toFixed(digits)} ± ${value.std.toFixed(digits)}`;
}

/** The learner's evaluation row: model "learner (trained)", else the first row. */
export function learnerRow(
  evaluation: readonly Record<string, string | number>[],
): Record<string, string | number> | undefined {
  return evaluation.find((r) => r.model === "learner (trained)") ?? evaluation[0];
}

/** The numeric metric names of rows, in order of first appearance. */
export function metricNames(rows: readonly Record<string, string | number>[]): string[] {
  const names: string[] = [];
  for (const row of rows) {
    for (const [key, value] of Object.entries(row)) {
      if (typeof value === "number" && !names.includes(key)) names.push(key);
    }
  }
  return names;
}

function statsOf(rows: Record<string, string | number>[], metrics: string[]): (MeanStd | null)[] {
  return metrics.map((m) => {
    const values = rows.map((r) => r[m]).filter((v): v is number => typeof v === "number");
    return values.length > 0 ? meanStd(values) : null;
  });
}

/** The baseline rows (every row but the learner's), one value per seed, across runs. */
function baselineRows(
  runs: readonly RunResult[],
  prefix = "",
): Map<string, Map<number, Record<string, string | number>>> {
  const found = new Map<string, Map<number, Record<string, string | number>>>();
  for (const run of runs) {
    const learner = learnerRow(run.evaluation);
    for (const row of run.evaluation) {
      if (row === learner) continue;
      const name = prefix + String(row.model);
      if (!found.has(name)) found.set(name, new Map());
      const bySeed = found.get(name)!;
      if (!bySeed.has(run.seed)) bySeed.set(run.seed, row);
    }
  }
  return found;
}

/**
 * Table 1: each algorithm's final metrics (mean ± std over seeds), with the
 * baselines (zero-shot learner, guide) evaluated in the same runs.
 * @param runs the Table 1 runs
 * @param algos the algorithms, in row order
 * @returns the table
 */
export function table1(runs: readonly RunResult[], algos: readonly string[]): Table {
  const mine = runs.filter((r) => r.table === "1");
  const learnerRows = (algo: string) =>
    mine.filter((r) => r.algo === algo).map((r) => learnerRow(r.evaluation)).filter((r) =>
      r !== undefined
    );
  const baselines = baselineRows(mine);
  const columns = metricNames([
    ...algos.flatMap(learnerRows),
    ...[...baselines.values()].flatMap((m) => [...m.values()]),
  ]);
  return {
    title: "Table 1: final evaluation of the learner alone on held-out prompts",
    columns,
    rows: [
      ...algos.map((algo) => ({ label: algo, cells: statsOf(learnerRows(algo), columns) })),
      ...[...baselines].map(([name, bySeed]) => ({
        label: `(baseline) ${name}`,
        cells: statsOf([...bySeed.values()], columns),
      })),
    ],
  };
}

/**
 * Table 2: the interaction budget. One row per algorithm, one column per budget
 * (β for PPO++ and AggreVaTeD, the switch point for D2LOLS), of `metric`.
 * @param runs the Table 2 runs
 * @param budgets the budgets, in column order
 * @param metric the metric shown (default the mean reward)
 * @returns the table
 */
export function table2(
  runs: readonly RunResult[],
  budgets: readonly number[],
  metric = "reward_mean",
): Table {
  const mine = runs.filter((r) => r.table === "2");
  const algos = [...new Set(mine.map((r) => r.algo))];
  const label = (algo: string) =>
    algo === "d2lols" ? "d2lols (switch at fraction of iterations)" : `${algo} (β)`;
  return {
    title: `Table 2: interaction budget (${metric}, mean ± std over seeds)`,
    columns: budgets.map(String),
    rows: algos.map((algo) => ({
      label: label(algo),
      cells: budgets.map((b) => {
        const values = mine
          .filter((r) => r.algo === algo && Number(r.variant.replace(/^[a-z]+/i, "")) === b)
          .map((r) => learnerRow(r.evaluation)?.[metric])
          .filter((v): v is number => typeof v === "number");
        return values.length > 0 ? meanStd(values) : null;
      }),
    })),
    note: "PPO++ β: probability of a guide roll-in; AggreVaTeD β: probability of a learner " +
      "roll-in; D2LOLS: AggreVaTeD for this fraction of the iterations, then PPO++.",
  };
}

/**
 * Table 3: each guided algorithm trained with the token-level guide (Table 1's
 * runs) and with the black-box text-API guide, plus each guide evaluated alone.
 * @param runs Table 1 and Table 3 runs
 * @param metric the metric shown (default the mean reward)
 * @returns the table
 */
export function table3(runs: readonly RunResult[], metric = "reward_mean"): Table {
  const api = runs.filter((r) => r.table === "3");
  const algos = [...new Set(api.map((r) => r.algo))];
  const pick = (table: string, algo: string) =>
    runs.filter((r) => r.table === table && r.algo === algo)
      .map((r) => learnerRow(r.evaluation)?.[metric])
      .filter((v): v is number => typeof v === "number");
  const stat = (values: number[]) => values.length > 0 ? meanStd(values) : null;
  const guideStat = (table: string, pattern: RegExp) => {
    const bySeed = new Map<number, number>();
    for (const run of runs.filter((r) => r.table === table && algos.includes(r.algo))) {
      const row = run.evaluation.find((r) => pattern.test(String(r.model)));
      const value = row?.[metric];
      if (typeof value === "number" && !bySeed.has(run.seed)) bySeed.set(run.seed, value);
    }
    return stat([...bySeed.values()]);
  };
  return {
    title: `Table 3: token-level guide vs black-box text-API guide (${metric})`,
    columns: ["token-level guide", "text-API guide"],
    rows: [
      ...algos.map((algo) => ({
        label: algo,
        cells: [stat(pick("1", algo)), stat(pick("3", algo))],
      })),
      {
        label: "(the guide alone)",
        cells: [guideStat("1", /guide/i), guideStat("3", /API guide/)],
      },
    ],
  };
}

/**
 * Difficulty groups of prompts. "prompt-reward": terciles, where a prompt's
 * tercile is ⌊3·(number of prompts with a strictly lower value)/n⌋, so ties share a
 * tercile; 0 is the hardest (lowest own reward). "unseen-concepts": the count itself.
 * @param difficulty each prompt's feature
 * @param kind how to group
 * @returns each prompt's group
 */
export function difficultyGroups(
  difficulty: readonly number[],
  kind: PerPrompt["difficultyKind"],
): number[] {
  return kind === "unseen-concepts" ? difficulty.map((d) => d) : terciles(difficulty);
}

/** The label of a difficulty group. */
export function groupLabel(group: number, kind: PerPrompt["difficultyKind"]): string {
  if (kind === "unseen-concepts") return `${group} unseen concept${group === 1 ? "" : "s"}`;
  return ["hard (low prompt reward)", "medium", "easy (high prompt reward)"][group];
}

/**
 * The mean reward of each difficulty group in one run.
 * @param perPrompt the run's per-prompt rewards and difficulty
 * @returns group → mean reward
 */
export function groupMeans(perPrompt: PerPrompt): Map<number, number> {
  const groups = difficultyGroups(perPrompt.difficulty, perPrompt.difficultyKind);
  const sums = new Map<number, { sum: number; n: number }>();
  groups.forEach((g, i) => {
    const s = sums.get(g) ?? { sum: 0, n: 0 };
    s.sum += perPrompt.rewards[i];
    s.n++;
    sums.set(g, s);
  });
  return new Map([...sums].sort((a, b) => a[0] - b[0]).map(([g, s]) => [g, s.sum / s.n]));
}

/**
 * Figure 3 as a table: each algorithm's reward per difficulty group (the group's
 * mean reward in each run, then mean ± std over seeds).
 * @param runs Table 1 runs with `perPrompt`
 * @param algos the algorithms, in row order
 * @returns the table (empty rows when no run has per-prompt data)
 */
export function figure3(runs: readonly RunResult[], algos: readonly string[]): Table {
  const mine = runs.filter((r) => r.table === "1" && r.perPrompt);
  const kind = mine[0]?.perPrompt?.difficultyKind ?? "prompt-reward";
  const perRun = mine.map((r) => ({ run: r, means: groupMeans(r.perPrompt!) }));
  const groups = [...new Set(perRun.flatMap((p) => [...p.means.keys()]))].sort((a, b) => a - b);
  return {
    title: "Figure 3: reward by prompt difficulty (mean ± std over seeds)",
    columns: groups.map((g) => groupLabel(g, kind)),
    rows: algos.filter((a) => perRun.some((p) => p.run.algo === a)).map((algo) => ({
      label: algo,
      cells: groups.map((g) => {
        const values = perRun.filter((p) => p.run.algo === algo && p.means.has(g))
          .map((p) => p.means.get(g)!);
        return values.length > 0 ? meanStd(values) : null;
      }),
    })),
    note:
      (kind === "prompt-reward"
        ? "Terciles of the prompt's own reward (IMDB: its sentiment under the reward model)."
        : "Groups by the number of the prompt's concepts that never occur in the training split.") +
      (groups.length === 1
        ? " Every prompt has the same difficulty value here, so there is one group."
        : ""),
  };
}

/**
 * Renders a table as Markdown.
 * @param table the table
 * @param digits decimals of the numbers
 * @returns the Markdown
 */
export function markdownTable(table: Table, digits = 3): string {
  const head = `| | ${table.columns.join(" | ")} |\n|---|${
    table.columns.map(() => "---").join("|")
  }|`;
  const body = table.rows.map((r) =>
    `| ${r.label} | ${r.cells.map((c) => formatMeanStd(c, digits)).join(" | ")} |`
  );
  return [`### ${table.title}`, "", head, ...body, ...(table.note ? ["", table.note] : [])]
    .join("\n");
}

const escapeXml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * A grouped bar chart (SVG) of a table: one group of bars per row, one bar per
 * column, with ±std whiskers.
 * @param table the table (e.g. {@linkcode figure3})
 * @param width the width in pixels
 * @param height the height in pixels
 * @returns the SVG, or "" when the table has no value
 */
export function barChart(table: Table, width = 640, height = 300): string {
  const values = table.rows.flatMap((r) => r.cells)
    .filter((c): c is MeanStd => c !== null && Number.isFinite(c.mean));
  if (values.length === 0) return "";
  const pad = { left: 56, right: 12, top: 28, bottom: 96 };
  let yMin = Math.min(0, ...values.map((v) => v.mean - v.std));
  let yMax = Math.max(...values.map((v) => v.mean + v.std));
  if (yMax === yMin) [yMin, yMax] = [yMin - 1, yMax + 1];
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const sy = (y: number) => pad.top + plotH - ((y - yMin) / (yMax - yMin)) * plotH;
  const colors = ["#c0392b", "#e67e22", "#27ae60", "#2980b9", "#8e44ad", "#7f8c8d"];
  const groupW = plotW / table.rows.length;
  const barW = (groupW * 0.8) / Math.max(1, table.columns.length);
  const parts: string[] = [];
  table.rows.forEach((row, i) => {
    const x0 = pad.left + i * groupW + groupW * 0.1;
    row.cells.forEach((cell, j) => {
      if (!cell || !Number.isFinite(cell.mean)) return;
      const x = x0 + j * barW;
      const top = Math.min(sy(cell.mean), sy(0));
      const h = Math.abs(sy(cell.mean) - sy(0));
      const cx = (x + barW / 2).toFixed(1);
      parts.push(
        `<rect x="${x.toFixed(1)}" y="${top.toFixed(1)}" width="${(barW - 1).toFixed(1)}" ` +
          `height="${h.toFixed(1)}" fill="${colors[j % colors.length]}"><title>${
            escapeXml(`${row.label}, ${table.columns[j]}: ${formatMeanStd(cell)}`)
          }</title></rect>`,
        `<path d="M${cx},${sy(cell.mean - cell.std).toFixed(1)} V${
          sy(cell.mean + cell.std).toFixed(1)
        }" stroke="#333"/>`,
      );
    });
    // Row labels are rotated so long names (bc+aggrevated) do not overlap their neighbours.
    const lx = (x0 + groupW * 0.4).toFixed(1);
    const ly = height - pad.bottom + 12;
    parts.push(
      `<text x="${lx}" y="${ly}" font-size="10" text-anchor="end" ` +
        `transform="rotate(-35 ${lx} ${ly})">${escapeXml(row.label)}</text>`,
    );
  });
  const legend = table.columns.map((c, j) =>
    `<rect x="${pad.left + j * 150}" y="${height - 24}" width="10" height="10" fill="${
      colors[j % colors.length]
    }"/><text x="${pad.left + j * 150 + 14}" y="${height - 15}" font-size="10">${
      escapeXml(c)
    }</text>`
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" role="img" ` +
    `aria-label="${escapeXml(table.title)}">` +
    `<text x="${pad.left}" y="16" font-size="12">${escapeXml(table.title)}</text>` +
    `<path d="M${pad.left},${pad.top} V${sy(yMin).toFixed(1)} H${width - pad.right}" ` +
    `stroke="#000" fill="none"/>` +
    `<path d="M${pad.left},${sy(0).toFixed(1)} H${width - pad.right}" stroke="#999"/>` +
    `<text x="${pad.left - 4}" y="${pad.top + 4}" font-size="10" text-anchor="end">${
      yMax.toFixed(3)
    }</text>` +
    `<text x="${pad.left - 4}" y="${sy(yMin).toFixed(1)}" font-size="10" text-anchor="end">${
      yMin.toFixed(3)
    }</text>` +
    parts.join("") + legend.join("") + `</svg>`;
}

/** A table as JSON: numbers, not strings. */
export function tableJson(table: Table): Record<string, unknown> {
  return {
    title: table.title,
    columns: table.columns,
    rows: table.rows.map((r) => ({ label: r.label, cells: r.cells })),
    ...(table.note ? { note: table.note } : {}),
  };
}

/** One comparison the paper makes, checked on our runs. */
export interface Claim {
  /** The paper's statement, e.g. "ppo++ beats ppo". */
  claim: string;
  /** The side the paper says is higher, and the other. */
  higher: { label: string; value: MeanStd };
  lower: { label: string; value: MeanStd };
  /** higher.mean − lower.mean. */
  difference: number;
  /** Whether |difference| exceeds the two standard deviations added. */
  exceedsSpread: boolean;
  /** "holds" (higher and beyond the spread), "reversed" (lower beyond it) or "within spread". */
  verdict: "holds" | "reversed" | "within spread";
}

function claimOf(
  claim: string,
  higher: { label: string; value: MeanStd },
  lower: { label: string; value: MeanStd },
): Claim {
  const difference = higher.value.mean - lower.value.mean;
  const exceedsSpread = Math.abs(difference) > higher.value.std + lower.value.std;
  const verdict = !exceedsSpread ? "within spread" : difference > 0 ? "holds" : "reversed";
  return { claim, higher, lower, difference, exceedsSpread, verdict };
}

/**
 * The comparisons the paper draws from Table 1 and Figure 3, on `metric` of our runs: every
 * guided algorithm beats PPO (and BC+X beats BC+PPO); D2LOLS beats each other algorithm of its
 * family (X or BC+X); every RL learner beats its BC guide; and by prompt difficulty, each
 * guided algorithm's easy−hard gap is smaller than PPO's and BC's. A comparison is made only
 * where both sides have runs; it "holds" when the difference goes the paper's way by more than
 * the two standard deviations over seeds added.
 * @param runs the Table 1 runs (with per-prompt results for the difficulty claims)
 * @param metric the compared metric (default the mean reward)
 * @returns the comparisons
 */
export function paperClaims(runs: readonly RunResult[], metric = "reward_mean"): Claim[] {
  const mine = runs.filter((r) => r.table === "1");
  const learnerStat = (algo: string): MeanStd | null => {
    const values = mine.filter((r) => r.algo === algo)
      .map((r) => learnerRow(r.evaluation)?.[metric])
      .filter((v): v is number => typeof v === "number");
    return values.length > 0 ? meanStd(values) : null;
  };
  const claims: Claim[] = [];
  const compare = (
    claim: string,
    a: string,
    b: string,
    sa = learnerStat(a),
    sb = learnerStat(b),
  ) => {
    if (sa && sb) claims.push(claimOf(claim, { label: a, value: sa }, { label: b, value: sb }));
  };
  const guided = ["ppo++", "aggrevated", "lols", "d2lols"];
  for (const prefix of ["", "bc+"]) {
    for (const algo of guided) {
      compare(`${prefix}${algo} beats ${prefix}ppo`, prefix + algo, `${prefix}ppo`);
    }
  }
  for (const prefix of ["", "bc+"]) {
    for (const algo of ["ppo", "ppo++", "aggrevated", "lols", "bc"]) {
      if (prefix === "bc+" && algo === "bc") continue;
      compare(`${prefix}d2lols beats ${prefix}${algo}`, `${prefix}d2lols`, prefix + algo);
    }
  }
  const guideValues = mine.map((r) =>
    r.evaluation.find((row) => /BC guide/.test(String(row.model)))
  )
    .map((row) => row?.[metric]).filter((v): v is number => typeof v === "number");
  if (guideValues.length > 0) {
    const guide = meanStd(guideValues);
    for (const algo of [...new Set(mine.map((r) => r.algo))].filter((a) => a !== "bc")) {
      compare(`${algo} beats the BC guide`, algo, "BC guide", learnerStat(algo), guide);
    }
  }
  // Figure 3: a smaller easy−hard gap is better, so the "higher" side is the negated gap
  const negatedGap = (algo: string): MeanStd | null => {
    const gaps = mine
      .filter((r) => r.algo === algo && r.perPrompt?.difficultyKind === "prompt-reward")
      .map((r) => groupMeans(r.perPrompt!)).filter((m) => m.has(0) && m.has(2))
      .map((m) => m.get(0)! - m.get(2)!); // hard − easy: the gap, negated
    return gaps.length > 0 ? meanStd(gaps) : null;
  };
  for (const algo of guided) {
    for (const other of ["ppo", "bc"]) {
      compare(
        `${algo}'s easy−hard gap is smaller than ${other}'s`,
        algo,
        other,
        negatedGap(algo),
        negatedGap(other),
      );
    }
  }
  return claims;
}

/**
 * The claims as a Markdown table.
 * @param claims from {@linkcode paperClaims}
 * @param digits decimals
 */
export function claimsMarkdown(claims: readonly Claim[], digits = 3): string {
  const rows = claims.map((c) =>
    `| ${c.claim} | ${formatMeanStd(c.higher.value, digits)} | ${
      formatMeanStd(c.lower.value, digits)
    } | ${c.difference >= 0 ? "+" : ""}${c.difference.toFixed(digits)} | ${c.verdict} |`
  );
  return [
    "### The paper's comparisons on these runs",
    "",
    "| claim | first side | second side | difference | verdict |",
    "|---|---|---|---|---|",
    ...rows,
    "",
    "A claim holds when the first side exceeds the second by more than their two standard " +
    "deviations over seeds added; reversed when the second exceeds the first by as much; else " +
    "the difference is within the spread. Easy−hard gaps are shown negated (higher is a " +
    "smaller gap).",
  ].join("\n");
}

/** One column of a table as a table of its own (a chart of one metric). */
export function columnTable(table: Table, column: string): Table | null {
  const j = table.columns.indexOf(column);
  if (j < 0) return null;
  return {
    title: `${table.title} — ${column}`,
    columns: [column],
    rows: table.rows.map((r) => ({ label: r.label, cells: [r.cells[j]] })),
  };
}

/**
 * The paper analyses as one HTML page: each table, a bar chart of its mean reward (every
 * column for Table 2 and Figure 3, whose columns share a scale), and the comparisons.
 * @param header the Markdown header paragraph (shown as text)
 * @param tables the tables
 * @param claims the comparisons
 */
export function paperHtml(
  header: string,
  tables: readonly Table[],
  claims: readonly Claim[],
): string {
  const tableHtml = (t: Table) =>
    `<h2>${escapeXml(t.title)}</h2><table><tr><th></th>${
      t.columns.map((c) => `<th>${escapeXml(c)}</th>`).join("")
    }</tr>${
      t.rows.map((r) =>
        `<tr><th>${escapeXml(r.label)}</th>${
          r.cells.map((c) => `<td>${formatMeanStd(c)}</td>`).join("")
        }</tr>`
      ).join("")
    }</table>${t.note ? `<p>${escapeXml(t.note)}</p>` : ""}`;
  const chartOf = (t: Table) => {
    const one = columnTable(t, "reward_mean");
    return barChart(one ?? t);
  };
  const claimRows = claims.map((c) =>
    `<tr class="${c.verdict.replace(" ", "-")}"><td>${escapeXml(c.claim)}</td><td>${
      formatMeanStd(c.higher.value)
    }</td><td>${formatMeanStd(c.lower.value)}</td><td>${
      c.difference.toFixed(3)
    }</td><td>${c.verdict}</td></tr>`
  ).join("");
  return `<!doctype html><html><head><meta charset="utf-8"><title>Paper analyses</title><style>
body{font-family:system-ui,sans-serif;max-width:1000px;margin:2rem auto;padding:0 1rem}
table{border-collapse:collapse;margin:0.5rem 0}td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}
tr.holds td:last-child{color:#1e7d32}tr.reversed td:last-child{color:#b71c1c}
pre{white-space:pre-wrap}</style></head><body>
<pre>${escapeXml(header)}</pre>
${tables.map((t) => tableHtml(t) + chartOf(t)).join("\n")}
${
    claims.length > 0
      ? `<h2>The paper's comparisons on these runs</h2><table><tr><th>claim</th><th>first side</th>` +
        `<th>second side</th><th>difference</th><th>verdict</th></tr>${claimRows}</table>` +
        "<p>A claim holds when the first side exceeds the second by more than their two standard " +
        "deviations over seeds added; reversed when the second exceeds the first by as much.</p>"
      : ""
  }
</body></html>
`;
}

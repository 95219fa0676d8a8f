/**
 * The grid of the paper benchmark: which runs each table needs (algorithm, seed,
 * config overrides) and where each run's folder lives. Cells of different tables
 * that resolve to the same config share one run folder.
 * @module
 */
import { ConfigError } from "../core/errors.ts";

/** Every algorithm of Table 1, in the paper's order. */
export const PAPER_ALGOS: readonly string[] = [
  "ppo",
  "ppo++",
  "aggrevated",
  "lols",
  "d2lols",
  "bc",
  "bc+ppo",
  "bc+ppo++",
  "bc+aggrevated",
  "bc+lols",
  "bc+d2lols",
];

/**
 * Algorithms beyond the paper (issue 17), Table 1 rows after the paper's at the same sample
 * budget (the preset's iterations × trajectories per update).
 */
export const BEYOND_ALGOS: readonly string[] = ["grpo", "rloo", "rebel", "drpo", "grpo++"];

/** Every algorithm `--algos` accepts, and the default grid's Table 1 rows in order. */
export const GRID_ALGOS: readonly string[] = [...PAPER_ALGOS, ...BEYOND_ALGOS];

/** The RL algorithms that call a guide (Table 3 trains them with the API guide). */
export const GUIDED_ALGOS: readonly string[] = ["ppo++", "aggrevated", "lols", "d2lols"];

/** The analyses `--tables` accepts. */
export const PAPER_TABLES: readonly string[] = ["1", "2", "3", "fig3"];

/** Table 2's interaction budgets: β for PPO++ and AggreVaTeD, the switch point for D2LOLS. */
export const BUDGETS: readonly number[] = [0.2, 0.5, 0.8];

/** One run the benchmark needs. */
export interface GridCell {
  /** The table it belongs to: "1", "2" or "3" (Figure 3 reads Table 1's runs). */
  table: string;
  algo: string;
  seed: number;
  /** A short label of the overrides (e.g. "beta0.5"); "" for the preset's defaults. */
  variant: string;
  /** Config overrides beyond algo and seed (a `--config` layer). */
  overrides: Record<string, unknown>;
  /** Train with the text-API guide (Table 3). */
  apiGuide: boolean;
}

/**
 * Parses a comma-separated list flag.
 * @param flag the flag name, for errors
 * @param text the flag's value
 * @param allowed the accepted items
 * @returns the items in the given order, duplicates removed
 * @throws {ConfigError} naming the flag and the first unknown item
 */
export function parseList(flag: string, text: string, allowed: readonly string[]): string[] {
  const items = [...new Set(text.split(",").map((s) => s.trim()).filter((s) => s !== ""))];
  if (items.length === 0) throw new ConfigError(flag, "expected a non-empty comma-separated list");
  for (const item of items) {
    if (!allowed.includes(item)) {
      throw new ConfigError(
        flag,
        `unknown item "${item}"; expected some of: ${allowed.join(", ")}`,
      );
    }
  }
  return items;
}

/**
 * Parses `--seeds 0,1,2` (non-negative integers).
 * @param text the flag's value
 * @returns the seeds, duplicates removed
 * @throws {ConfigError} naming `--seeds` and the bad item
 */
export function parseSeeds(text: string): number[] {
  const items = [...new Set(text.split(",").map((s) => s.trim()).filter((s) => s !== ""))];
  if (items.length === 0) throw new ConfigError("--seeds", "expected e.g. 0,1,2");
  return items.map((item) => {
    const n = Number(item);
    if (!/^\d+$/.test(item) || !Number.isSafeInteger(n)) {
      throw new ConfigError("--seeds", `expected non-negative integers, got "${item}"`);
    }
    return n;
  });
}

/**
 * The runs the chosen tables need.
 * @param options algorithms, seeds and tables
 * @returns the cells, Table 1 first (Figure 3 and Table 3 need Table 1's cells too)
 */
export function gridCells(
  options: { algos: readonly string[]; seeds: readonly number[]; tables: readonly string[] },
): GridCell[] {
  const cells: GridCell[] = [];
  const has = (t: string) => options.tables.includes(t);
  const add = (table: string, algo: string, variant: string, overrides = {}, apiGuide = false) => {
    for (const seed of options.seeds) {
      cells.push({ table, algo, seed, variant, overrides, apiGuide });
    }
  };
  if (has("1") || has("fig3")) { for (const algo of options.algos) add("1", algo, ""); }
  if (has("2")) {
    for (const b of BUDGETS) {
      if (options.algos.includes("ppo++")) {
        add("2", "ppo++", `beta${b}`, { train: { ppoPlusPlus: { beta: b } } });
      }
      if (options.algos.includes("aggrevated")) {
        add("2", "aggrevated", `beta${b}`, { train: { aggrevated: { beta: b } } });
      }
      if (options.algos.includes("d2lols")) {
        add("2", "d2lols", `switch${b}`, {
          train: { d2lols: { switchFraction: b, switchIteration: -1 } },
        });
      }
    }
  }
  if (has("3")) {
    const guided = options.algos.filter((a) => GUIDED_ALGOS.includes(a));
    // Table 3's other column is the same algorithm with the token-level guide (Table 1's run).
    if (!has("1") && !has("fig3")) { for (const algo of guided) add("1", algo, ""); }
    for (const algo of guided) add("3", algo, "api", {}, true);
  }
  return cells;
}

/**
 * The run folder name of a cell: readable, and equal for cells with equal configs.
 * @param cell the cell
 * @param variant the variant label to use ("" when the overrides change nothing)
 * @returns e.g. `ppopp-beta0.5-seed1`
 */
export function runName(cell: Pick<GridCell, "algo" | "seed">, variant: string): string {
  const algo = cell.algo.replace(/\+/g, "p");
  return `${algo}${variant ? `-${variant}` : ""}-seed${cell.seed}`;
}

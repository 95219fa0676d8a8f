/**
 * The run report: one self-contained HTML file (inline SVG charts, no scripts,
 * no network). It shows the warnings a researcher should see first (negative KL,
 * a perplexity rise, entropy collapse or blow-up, a high clip fraction), the
 * evaluation table, learning curves with ticks, gridlines and the algorithm's
 * phases as bands (iterations counted from 1, as the CLI counts them), the reward
 * mean ± std, the KL part of the reward, response lengths, reward histograms of
 * the held-out generations before and after training, and samples with their
 * rewards. Metrics constant over the run are listed as values, not drawn.
 *
 * `deno task report RUN [RUN...]` renders one run's report again from its folder
 * (`RUN/report.html`), or compares several runs in one page (`--out FILE`).
 * @module
 */
import { writeFileAtomic } from "../core/atomic.ts";
import { InputError } from "../core/errors.ts";
import { CONSOLE_IO, runCommand } from "./cli_io.ts";
import { FlagError, parseFlags } from "./flags.ts";
import type { ReportBounds } from "./config.ts";
import { readJsonl } from "./run_dir.ts";

/** One held-out prompt's generation and reward (a line of eval_generations.jsonl). */
export interface EvalGeneration {
  model: string;
  id: string;
  prompt: string;
  generation: string;
  reward: number;
}

/** What the report shows. */
export interface ReportData {
  title: string;
  /** The resolved config, shown collapsed. */
  config: unknown;
  /** One object per iteration (metrics.jsonl). */
  metrics: Record<string, unknown>[];
  /** Evaluation rows, e.g. `{ model: "BC guide", sentiment: 0.61, perplexity: 31.2 }`. */
  evaluation: Record<string, string | number>[];
  /** A sentence stating the headline result. */
  summary?: string;
  /** Sample generations before and after training (used when `generations` is absent). */
  samples: { prompt: string; before: string; after: string }[];
  /** Every held-out generation with its reward (eval_generations.jsonl): histograms and samples. */
  generations?: EvalGeneration[];
  /** Bounds of the warnings. @default DEFAULT_BOUNDS */
  bounds?: ReportBounds;
}

/** The warning bounds when a config has none (the presets' values). */
export const DEFAULT_BOUNDS: Readonly<ReportBounds> = Object.freeze({
  maxPerplexityRise: 0.2,
  minEntropyRatio: 0.5,
  maxEntropyRatio: 1.5,
  maxClipFraction: 0.3,
  maxDistinct2Drop: 0.05,
  beatGuide: true,
});

const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!,
  );

function formatNumber(value: number): string {
  if (Number.isInteger(value)) return String(value);
  const abs = Math.abs(value);
  return abs !== 0 && (abs < 1e-3 || abs >= 1e5) ? value.toExponential(3) : value.toFixed(4);
}

/** A tick label: as few digits as the tick step needs. */
function tickLabel(value: number, step: number): string {
  if (value === 0) return "0";
  const abs = Math.abs(value);
  if (abs >= 1e5 || abs < 1e-3) return value.toExponential(1);
  const decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));
  return value.toFixed(decimals);
}

/**
 * "Nice" tick values (steps of 1, 2 or 5 times a power of ten) covering [min, max].
 * @param min the smallest value
 * @param max the largest value
 * @param count about how many ticks
 * @param minStep the smallest step (1 for iteration numbers)
 * @returns the ticks, ascending, and their step
 */
export function niceTicks(
  min: number,
  max: number,
  count = 5,
  minStep = 0,
): { ticks: number[]; step: number } {
  if (!(max > min)) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    return niceTicks(min - pad, max + pad, count, minStep);
  }
  const raw = Math.max(minStep, (max - min) / Math.max(1, count));
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw * 0.999)!;
  const first = Math.floor(min / step + 1e-9) * step;
  const ticks: number[] = [];
  // each tick from its index (no accumulated rounding), and a value within rounding of 0 is 0
  const tick = (i: number) => {
    const v = first + i * step;
    return Math.abs(v) < step * 1e-6 ? 0 : Number(v.toPrecision(12));
  };
  for (let i = 0; tick(i) <= max + step * 1e-6 || ticks.length < 2; i++) {
    ticks.push(tick(i));
    if (ticks.length > 50) break;
  }
  if (ticks.at(-1)! < max - step * 1e-6) ticks.push(tick(ticks.length));
  return { ticks, step };
}

/** Colours of the algorithms' phases (bands behind the curves). */
const PHASE_COLORS: Record<string, string> = {
  "aggrevated": "#fde2c4",
  "ppo++": "#d6e8fa",
  "ppo": "#dcf0d8",
  "bc": "#e8e8e8",
};
const PHASE_FALLBACK = ["#efd9f5", "#f5f2c4", "#d9f2f0"];
const SERIES_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"];

function phaseColor(phase: string, known: string[]): string {
  if (PHASE_COLORS[phase]) return PHASE_COLORS[phase];
  const i = known.indexOf(phase);
  return PHASE_FALLBACK[(i < 0 ? known.length : i) % PHASE_FALLBACK.length];
}

/** A contiguous run of iterations (numbered from 1) in one phase. */
export interface PhaseSpan {
  phase: string;
  /** First iteration, counted from 1. */
  from: number;
  /** Last iteration, counted from 1. */
  to: number;
}

/** The iteration number as the CLI counts it: metrics.jsonl's 0-based `iteration` plus one. */
const displayIteration = (m: Record<string, unknown>, i: number) =>
  (typeof m.iteration === "number" ? m.iteration : i) + 1;

/**
 * The phases of a run as contiguous spans of iterations (numbered from 1).
 * @param metrics metrics.jsonl's objects
 * @returns one span per change of `phase`
 */
export function phaseSpans(metrics: Record<string, unknown>[]): PhaseSpan[] {
  const spans: PhaseSpan[] = [];
  metrics.forEach((m, i) => {
    if (typeof m.phase !== "string") return;
    const it = displayIteration(m, i);
    const last = spans.at(-1);
    if (last && last.phase === m.phase && last.to === it - 1) last.to = it;
    else spans.push({ phase: m.phase, from: it, to: it });
  });
  return spans;
}

/** One line of a chart. */
export interface Series {
  label: string;
  points: [number, number][];
  /** A shaded band around the line: [x, low, high]. */
  band?: [number, number, number][];
  color?: string;
  /** Draw dashed. */
  dashed?: boolean;
}

/** Options of {@linkcode svgChart}. */
export interface ChartOptions {
  title: string;
  width?: number;
  height?: number;
  xLabel?: string;
  /** Bands behind the curves (x in the same units as the points). */
  phases?: PhaseSpan[];
  /**
   * Bars instead of lines, this wide in x units: each point is a bin's centre and height,
   * the series side by side within the bin.
   */
  barWidth?: number;
}

/**
 * An SVG chart with ticks and gridlines on both axes, a legend when there are several
 * series, and optional phase bands; an empty string when no series has a finite point.
 * @param series the lines
 * @param options title, size, axis label and phase bands
 * @returns the SVG element
 */
export function svgChart(series: Series[], options: ChartOptions): string {
  const finite = series.map((s) => ({
    ...s,
    points: s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)),
    band: s.band?.filter(([x, lo, hi]) => [x, lo, hi].every(Number.isFinite)),
  })).filter((s) => s.points.length > 0);
  if (finite.length === 0) return "";
  const width = options.width ?? 390;
  const height = options.height ?? 240;
  const legendRows = finite.length > 1 ? Math.ceil(finite.length / 3) : 0;
  const pad = { left: 58, right: 14, top: 26 + legendRows * 14, bottom: 38 };
  const xs = finite.flatMap((s) => s.points.map((p) => p[0]));
  const ys = finite.flatMap((s) => [
    ...s.points.map((p) => p[1]),
    ...(s.band ?? []).flatMap((b) => [b[1], b[2]]),
  ]);
  const barWidth = options.barWidth;
  if (barWidth !== undefined) ys.push(0);
  let [xMin, xMax] = [Math.min(...xs), Math.max(...xs)];
  if (barWidth !== undefined) [xMin, xMax] = [xMin - barWidth / 2, xMax + barWidth / 2];
  if (options.phases?.length) {
    xMin = Math.min(xMin, options.phases[0].from - 0.5);
    xMax = Math.max(xMax, options.phases.at(-1)!.to + 0.5);
  }
  if (xMin === xMax) [xMin, xMax] = [xMin - 1, xMax + 1];
  const y = niceTicks(Math.min(...ys), Math.max(...ys), 5);
  const [yMin, yMax] = [y.ticks[0], y.ticks.at(-1)!];
  const x = niceTicks(xMin, xMax, 6, barWidth === undefined ? 1 : 0);
  const xTicks = x.ticks.filter((t) => t >= xMin - 1e-9 && t <= xMax + 1e-9);
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const sx = (v: number) => pad.left + ((v - xMin) / (xMax - xMin)) * plotW;
  const sy = (v: number) => pad.top + plotH - ((v - yMin) / (yMax - yMin)) * plotH;
  const f = (v: number) => v.toFixed(1);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" role="img" aria-label="${
      escapeHtml(options.title)
    }">`,
    `<text x="${pad.left}" y="16" font-size="13" font-weight="bold">${
      escapeHtml(options.title)
    }</text>`,
  ];
  const known = [...new Set((options.phases ?? []).map((p) => p.phase))];
  for (const span of options.phases ?? []) {
    const x0 = Math.max(pad.left, sx(span.from - 0.5));
    const x1 = Math.min(width - pad.right, sx(span.to + 0.5));
    parts.push(
      `<rect class="phase" x="${f(x0)}" y="${pad.top}" width="${
        f(x1 - x0)
      }" height="${plotH}" fill="${phaseColor(span.phase, known)}"><title>${
        escapeHtml(span.phase)
      }: iterations ${span.from}-${span.to}</title></rect>`,
    );
  }
  for (const t of y.ticks) {
    parts.push(
      `<line class="grid" x1="${pad.left}" x2="${width - pad.right}" y1="${f(sy(t))}" y2="${
        f(sy(t))
      }" stroke="#ddd"/>`,
      `<text class="tick" x="${pad.left - 5}" y="${
        f(sy(t) + 3.5)
      }" font-size="10" text-anchor="end">${tickLabel(t, y.step)}</text>`,
    );
  }
  for (const t of xTicks) {
    parts.push(
      `<line class="grid" x1="${f(sx(t))}" x2="${f(sx(t))}" y1="${pad.top}" y2="${
        pad.top + plotH
      }" stroke="#eee"/>`,
      `<line x1="${f(sx(t))}" x2="${f(sx(t))}" y1="${pad.top + plotH}" y2="${
        pad.top + plotH + 4
      }" stroke="#888"/>`,
      `<text class="tick" x="${f(sx(t))}" y="${
        pad.top + plotH + 15
      }" font-size="10" text-anchor="middle">${tickLabel(t, x.step)}</text>`,
    );
  }
  parts.push(
    `<path d="M${pad.left},${pad.top} V${pad.top + plotH} H${
      width - pad.right
    }" fill="none" stroke="#888"/>`,
    `<text x="${pad.left + plotW / 2}" y="${
      height - 4
    }" font-size="10" text-anchor="middle" fill="#555">${
      escapeHtml(options.xLabel ?? "iteration")
    }</text>`,
  );
  finite.forEach((s, i) => {
    const color = s.color ?? SERIES_COLORS[i % SERIES_COLORS.length];
    if (barWidth !== undefined) {
      const n = finite.length;
      const binW = (barWidth / (xMax - xMin)) * plotW;
      for (const [centre, h] of s.points) {
        if (h === 0) continue;
        const w = Math.max(1, binW / n - 1);
        const left = sx(centre) - binW / 2 + (i * binW) / n;
        parts.push(
          `<rect x="${f(left)}" y="${f(sy(h))}" width="${f(w)}" height="${
            f(sy(yMin) - sy(h))
          }" fill="${color}" fill-opacity="0.75"><title>${
            escapeHtml(s.label)
          }: ${h}</title></rect>`,
        );
      }
    } else {
      if (s.band && s.band.length > 0) {
        const upper = s.band.map(([bx, , hi]) => `${f(sx(bx))},${f(sy(hi))}`);
        const lower = s.band.toReversed().map(([bx, lo]) => `${f(sx(bx))},${f(sy(lo))}`);
        parts.push(
          `<path class="band" d="M${
            [...upper, ...lower].join(" L")
          } Z" fill="${color}" fill-opacity="0.18" stroke="none"/>`,
        );
      }
      const path = s.points.map(([px, py], j) => `${j ? "L" : "M"}${f(sx(px))},${f(sy(py))}`)
        .join(" ");
      parts.push(
        `<path class="line" d="${path}" fill="none" stroke="${color}" stroke-width="1.8"${
          s.dashed ? ' stroke-dasharray="5 3"' : ""
        }/>`,
      );
      if (s.points.length === 1) {
        parts.push(
          `<circle cx="${f(sx(s.points[0][0]))}" cy="${
            f(sy(s.points[0][1]))
          }" r="3" fill="${color}"/>`,
        );
      }
    }
  });
  if (finite.length > 1) {
    finite.forEach((s, i) => {
      const color = s.color ?? SERIES_COLORS[i % SERIES_COLORS.length];
      const lx = pad.left + (i % 3) * Math.floor(plotW / 3);
      const ly = 24 + Math.floor(i / 3) * 14;
      parts.push(
        `<rect x="${lx}" y="${ly}" width="10" height="10" fill="${color}"/>`,
        `<text x="${lx + 14}" y="${ly + 9}" font-size="10">${
          escapeHtml(s.label.length > 32 ? `${s.label.slice(0, 31)}…` : s.label)
        }</text>`,
      );
    });
  }
  parts.push("</svg>");
  return parts.join("\n");
}

/**
 * A line chart of one metric against the iteration (counted from 1); empty when the
 * metric has no finite value.
 * @param metrics metrics.jsonl's objects
 * @param key the metric
 * @param options phase bands and a ± band key (e.g. `reward_std` around `reward_mean`)
 * @returns the SVG element
 */
export function lineChart(
  metrics: Record<string, unknown>[],
  key: string,
  options: { phases?: PhaseSpan[]; bandKey?: string; title?: string } = {},
): string {
  const points: [number, number][] = [];
  const band: [number, number, number][] = [];
  metrics.forEach((m, i) => {
    const v = m[key];
    if (typeof v !== "number" || !Number.isFinite(v)) return;
    const it = displayIteration(m, i);
    points.push([it, v]);
    const spread = options.bandKey ? m[options.bandKey] : undefined;
    if (typeof spread === "number" && Number.isFinite(spread)) {
      band.push([it, v - spread, v + spread]);
    }
  });
  return svgChart(
    [{ label: key, points, band: options.bandKey ? band : undefined }],
    { title: options.title ?? key, phases: options.phases },
  );
}

/** Numeric metric keys of a run, split into those that vary and those constant over it. */
export function splitMetrics(
  metrics: Record<string, unknown>[],
): { varying: string[]; constant: [string, number][] } {
  const keys = [...new Set(metrics.flatMap((m) => Object.keys(m)))]
    .filter((k) => k !== "iteration" && metrics.some((m) => typeof m[k] === "number"));
  const varying: string[] = [];
  const constant: [string, number][] = [];
  for (const key of keys) {
    const values = metrics.map((m) => m[key]).filter((v): v is number =>
      typeof v === "number" && Number.isFinite(v)
    );
    if (values.length === 0) continue;
    const first = values[0];
    const same = values.every((v) => Math.abs(v - first) <= 1e-12 * Math.max(1, Math.abs(first)));
    if (same && (metrics.length > 1 || values.length === 1)) constant.push([key, first]);
    else varying.push(key);
  }
  return { varying, constant };
}

const PREFERRED = [
  "reward_mean",
  "reward_rollout_only",
  "kl",
  "kl_penalty",
  "kl_coef",
  "response_length",
  "response_length_max",
  "loss_policy",
  "loss_value",
  "loss_nll",
  "entropy",
  "approx_kl",
  "clip_fraction",
  "grad_norm",
  "lr",
];
const HIDDEN = new Set(["reward_std", "updates", "tokens"]);
const order = (a: string, b: string) =>
  (PREFERRED.indexOf(a) + 1 || 99) - (PREFERRED.indexOf(b) + 1 || 99) || a.localeCompare(b);

const TITLES: Record<string, string> = {
  reward_mean: "task reward (mean ± std)",
  reward_rollout_only: "task reward, roll-out-only rows",
  kl: "KL(π ‖ π_ref) per trajectory",
  kl_penalty: "KL part of the reward (−c · KL)",
  kl_coef: "KL coefficient c",
  response_length: "response length (mean tokens)",
  response_length_max: "response length (max tokens)",
};

/** The learner's row, the zero-shot row and the guide's row of an evaluation table. */
function evaluationRoles(evaluation: Record<string, string | number>[]) {
  const learner = evaluation.find((r) => /learner/i.test(String(r.model))) ?? evaluation[0];
  const zeroShot = evaluation.find((r) => /zero-shot/i.test(String(r.model)));
  const guide = evaluation.find((r) => /guide/i.test(String(r.model)));
  return { learner, zeroShot, guide };
}

const at = (m: Record<string, unknown>, i: number) => displayIteration(m, i);

/**
 * The warnings of a run: negative KL estimates, a perplexity rise over the zero-shot
 * model beyond `bounds.maxPerplexityRise`, a fall of distinct-2 beyond
 * `bounds.maxDistinct2Drop`, a learner whose reward does not exceed the guide's (with
 * `bounds.beatGuide`), entropy collapse or blow-up (last iteration against the first), clip
 * fractions above `bounds.maxClipFraction`.
 * @param metrics metrics.jsonl's objects
 * @param evaluation the evaluation rows
 * @param bounds the bounds
 * @returns one sentence per warning
 */
export function reportWarnings(
  metrics: Record<string, unknown>[],
  evaluation: Record<string, string | number>[],
  bounds: ReportBounds = DEFAULT_BOUNDS,
): string[] {
  const warnings: string[] = [];
  const series = (key: string) =>
    metrics.map((m, i) => [at(m, i), m[key]] as const)
      .filter((p): p is readonly [number, number] =>
        typeof p[1] === "number" && Number.isFinite(p[1])
      );
  const kl = series("kl");
  const negative = kl.filter(([, v]) => v < 0);
  if (negative.length > 0) {
    const [it, low] = negative.reduce((a, b) => b[1] < a[1] ? b : a);
    warnings.push(
      `Negative KL estimate in ${negative.length} of ${kl.length} iterations (lowest ` +
        `${formatNumber(low)} at iteration ${it}): a sum of log π − log π_ref over sampled ` +
        'tokens can go negative with top-k/top-p sampling; train.kl.estimator "k3" never does.',
    );
  }
  const { learner, zeroShot, guide } = evaluationRoles(evaluation);
  const pplKey = learner && Object.keys(learner).find((k) => /perplexity/i.test(k));
  if (pplKey && learner && zeroShot && learner !== zeroShot) {
    const [after, before] = [Number(learner[pplKey]), Number(zeroShot[pplKey])];
    if (Number.isFinite(after) && Number.isFinite(before) && before > 0) {
      const rise = after / before - 1;
      if (rise > bounds.maxPerplexityRise) {
        warnings.push(
          `Perplexity rose ${(rise * 100).toFixed(0)}% over the zero-shot model (${
            formatNumber(before)
          } → ${formatNumber(after)}, ${pplKey}), beyond the ${
            (bounds.maxPerplexityRise * 100).toFixed(0)
          }% bound (report.maxPerplexityRise): the learner may be trading fluency for reward.`,
        );
      }
    }
  }
  const distinct = (row: Record<string, string | number> | undefined) =>
    Number(row?.["diversity/distinct-2"]);
  if (learner && zeroShot && learner !== zeroShot) {
    const [after, before] = [distinct(learner), distinct(zeroShot)];
    if (
      Number.isFinite(after) && Number.isFinite(before) && after < before - bounds.maxDistinct2Drop
    ) {
      warnings.push(
        `Distinct-2 fell from ${formatNumber(before)} (zero-shot) to ${
          formatNumber(after)
        }, more ` +
          `than report.maxDistinct2Drop ${bounds.maxDistinct2Drop}: the learner repeats itself.`,
      );
    }
  }
  if (bounds.beatGuide && learner && guide && learner !== guide) {
    const [mine, theirs] = [Number(learner.reward_mean), Number(guide.reward_mean)];
    if (Number.isFinite(mine) && Number.isFinite(theirs) && !(mine > theirs)) {
      warnings.push(
        `The learner's mean reward ${formatNumber(mine)} does not exceed the ${guide.model}'s ` +
          `${formatNumber(theirs)} (report.beatGuide).`,
      );
    }
  }
  const entropy = series("entropy");
  if (entropy.length >= 2 && entropy[0][1] > 0) {
    const [[firstIt, first], [lastIt, last]] = [entropy[0], entropy.at(-1)!];
    const ratio = last / first;
    if (ratio < bounds.minEntropyRatio) {
      warnings.push(
        `Entropy collapse: ${formatNumber(first)} nats at iteration ${firstIt}, ${
          formatNumber(last)
        } at iteration ${lastIt} (×${
          ratio.toFixed(2)
        }, below report.minEntropyRatio ${bounds.minEntropyRatio}).`,
      );
    } else if (ratio > bounds.maxEntropyRatio) {
      warnings.push(
        `Entropy blow-up: ${formatNumber(first)} nats at iteration ${firstIt}, ${
          formatNumber(last)
        } at iteration ${lastIt} (×${
          ratio.toFixed(2)
        }, above report.maxEntropyRatio ${bounds.maxEntropyRatio}).`,
      );
    }
  }
  const clip = series("clip_fraction");
  const high = clip.filter(([, v]) => v > bounds.maxClipFraction);
  if (high.length > 0) {
    const [it, top] = high.reduce((a, b) => b[1] > a[1] ? b : a);
    warnings.push(
      `Clip fraction above ${bounds.maxClipFraction} (report.maxClipFraction) in ${high.length} of ${clip.length} iterations (highest ${
        formatNumber(top)
      } at iteration ${it}): the updates move the policy far; a lower learning rate or fewer epochs would help.`,
    );
  }
  return warnings;
}

/**
 * Histogram counts over shared bins.
 * @param groups the values of each group
 * @param bins bin count (fewer when the values take fewer distinct levels)
 * @returns the bin centres' lower edges, width and each group's counts
 */
export function histogram(
  groups: number[][],
  bins = 20,
): { edges: number[]; width: number; counts: number[][] } {
  const all = groups.flat().filter(Number.isFinite);
  if (all.length === 0) return { edges: [], width: 0, counts: groups.map(() => []) };
  let [lo, hi] = [Math.min(...all), Math.max(...all)];
  const distinct = new Set(all).size;
  if (distinct <= 2 && bins > 10) bins = 10;
  if (lo === hi) [lo, hi] = [lo - 0.5, hi + 0.5];
  const width = (hi - lo) / bins;
  const edges = Array.from({ length: bins }, (_, i) => lo + i * width);
  const counts = groups.map((values) => {
    const c = new Array(bins).fill(0);
    for (const v of values) {
      if (Number.isFinite(v)) c[Math.min(bins - 1, Math.floor((v - lo) / width))]++;
    }
    return c;
  });
  return { edges, width, counts };
}

function table(rows: Record<string, string | number>[]): string {
  if (rows.length === 0) return "<p>No evaluation.</p>";
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (v: unknown) =>
    escapeHtml(typeof v === "number" ? formatNumber(v) : String(v ?? ""));
  return `<table><thead><tr>${
    columns.map((c) => `<th>${escapeHtml(c)}</th>`).join("")
  }</tr></thead><tbody>` +
    rows.map((r) => `<tr>${columns.map((c) => `<td>${cell(r[c])}</td>`).join("")}</tr>`).join("") +
    "</tbody></table>";
}

function phaseLegend(spans: PhaseSpan[]): string {
  if (spans.length === 0) return "";
  const known = [...new Set(spans.map((s) => s.phase))];
  const counts = new Map<string, number>();
  for (const s of spans) counts.set(s.phase, (counts.get(s.phase) ?? 0) + s.to - s.from + 1);
  const sequence = spans.length <= 6
    ? spans.map((s) =>
      `${escapeHtml(s.phase)} ${
        s.from === s.to ? `iteration ${s.from}` : `iterations ${s.from}-${s.to}`
      }`
    ).join(", then ")
    : `${spans.length - 1} switches between them`;
  return `<p class="phases">Phases (bands behind the curves): ${
    known.map((p) =>
      `<span class="swatch" style="background:${phaseColor(p, known)}"></span>${escapeHtml(p)} (${
        counts.get(p)
      } iterations)`
    ).join(" ")
  }. ${sequence}.</p>`;
}

function histogramSection(generations: EvalGeneration[]): string {
  const { learner, zeroShot, guide } = {
    learner: generations.find((g) => /learner/i.test(g.model))?.model,
    zeroShot: generations.find((g) => /zero-shot/i.test(g.model))?.model,
    guide: generations.find((g) => /guide/i.test(g.model))?.model,
  };
  const models = [zeroShot, learner, guide].filter((m): m is string => m !== undefined);
  if (models.length === 0) return "";
  const groups = models.map((m) => generations.filter((g) => g.model === m).map((g) => g.reward));
  const h = histogram(groups);
  const colors = models.map((m) =>
    m === zeroShot ? "#999999" : m === learner ? "#1f77b4" : "#2ca02c"
  );
  const series: Series[] = models.map((m, i) => ({
    label: `${m === zeroShot ? "before: " : m === learner ? "after: " : ""}${m} (n=${
      groups[i].length
    })`,
    points: h.edges.map((e, b) => [e + h.width / 2, h.counts[i][b]] as [number, number]),
    color: colors[i],
  }));
  return `<h2>Reward on held-out prompts, before and after training</h2>
<div class="charts">${
    svgChart(series, {
      title: "reward histogram (count per bin)",
      xLabel: "task reward",
      barWidth: h.width,
      width: 640,
      height: 260,
    })
  }</div>`;
}

function samplesSection(data: ReportData): string {
  const generations = data.generations ?? [];
  const { learner, zeroShot, guide } = {
    learner: generations.find((g) => /learner/i.test(g.model))?.model,
    zeroShot: generations.find((g) => /zero-shot/i.test(g.model))?.model,
    guide: generations.find((g) => /guide/i.test(g.model))?.model,
  };
  const withReward = (text: string, reward: number | undefined) =>
    `${escapeHtml(text)}${
      reward === undefined ? "" : `<div class="reward">reward ${formatNumber(reward)}</div>`
    }`;
  if (learner && zeroShot) {
    const ids = [...new Set(generations.map((g) => g.id))].slice(0, 8);
    const find = (model: string | undefined, id: string) =>
      model === undefined ? undefined : generations.find((g) => g.model === model && g.id === id);
    const rows = ids.map((id) => {
      const before = find(zeroShot, id);
      const after = find(learner, id);
      const fromGuide = find(guide, id);
      return `<tr><td><code>${escapeHtml(id)}</code></td><td>${
        escapeHtml(after?.prompt ?? before?.prompt ?? "")
      }</td><td>${withReward(before?.generation ?? "", before?.reward)}</td><td>${
        withReward(after?.generation ?? "", after?.reward)
      }</td>${
        guide ? `<td>${withReward(fromGuide?.generation ?? "", fromGuide?.reward)}</td>` : ""
      }</tr>`;
    }).join("");
    return `<table class="samples"><thead><tr><th>prompt id</th><th>prompt</th><th>before (${
      escapeHtml(zeroShot)
    })</th><th>after (${escapeHtml(learner)})</th>${
      guide ? `<th>${escapeHtml(guide)}</th>` : ""
    }</tr></thead><tbody>${rows}</tbody></table>`;
  }
  const rows = data.samples.map((s) =>
    `<tr><td>${escapeHtml(s.prompt)}</td><td>${escapeHtml(s.before)}</td><td>${
      escapeHtml(s.after)
    }</td></tr>`
  ).join("");
  return `<table class="samples"><thead><tr><th>prompt</th><th>before</th><th>after</th></tr></thead><tbody>${rows}</tbody></table>`;
}

const STYLE = `body{font-family:system-ui,sans-serif;margin:2rem;max-width:1320px;color:#222}
.charts{display:flex;flex-wrap:wrap;gap:12px}
.charts svg{background:#fff;border:1px solid #eee}
table{border-collapse:collapse;margin:1rem 0}
td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;text-align:left}
.samples td{max-width:380px}
.reward{color:#555;font-size:0.85em;margin-top:2px}
.warnings{background:#fff4d6;border:1px solid #e0b84c;padding:0.5rem 1rem;margin:1rem 0}
.warnings li{margin:0.25rem 0}
.ok{color:#2a7a2a}
.swatch{display:inline-block;width:12px;height:12px;margin:0 4px 0 10px;vertical-align:-1px;border:1px solid #bbb}
pre{background:#f6f6f6;padding:1rem;overflow:auto}`;

function warningsSection(warnings: string[]): string {
  return warnings.length === 0
    ? `<p class="ok">No warnings (negative KL, perplexity rise, entropy collapse or blow-up, clip fraction).</p>`
    : `<div class="warnings"><strong>Warnings</strong><ul>${
      warnings.map((w) => `<li>${escapeHtml(w)}</li>`).join("")
    }</ul></div>`;
}

function constantsTable(constant: [string, number][]): string {
  if (constant.length === 0) return "";
  return `<h3>Constant over the run</h3><table><tbody>${
    constant.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${formatNumber(v)}</td></tr>`)
      .join("")
  }</tbody></table>`;
}

/**
 * The learning-curve charts of one run: each varying metric, the reward with its ± std band,
 * phases as bands.
 */
function curveCharts(metrics: Record<string, unknown>[], varying: string[]): string {
  const phases = phaseSpans(metrics);
  return varying.filter((k) => !HIDDEN.has(k)).sort(order).map((k) =>
    lineChart(metrics, k, {
      phases,
      title: TITLES[k] ?? k,
      bandKey: k === "reward_mean" ? "reward_std" : undefined,
    })
  ).filter(Boolean).join("\n");
}

/**
 * The headline sentence: the learner's reward against the guide's on the held-out prompts.
 * @param evaluation the evaluation rows
 * @param prompts how many held-out prompts they cover
 * @returns the sentence, or undefined without a learner and a guide row
 */
export function headline(
  evaluation: Record<string, string | number>[],
  prompts: number,
): string | undefined {
  const { learner, guide } = evaluationRoles(evaluation);
  if (!learner || !guide || learner === guide) return undefined;
  const [l, g] = [Number(learner.reward_mean), Number(guide.reward_mean)];
  if (!Number.isFinite(l) || !Number.isFinite(g)) return undefined;
  return `Learner reward ${l.toFixed(4)} vs guide ${g.toFixed(4)} on ${prompts} held-out prompts (${
    l >= g ? "+" : ""
  }${(l - g).toFixed(4)}).`;
}

/** Renders the whole report as an HTML string. */
export function renderReport(data: ReportData): string {
  const { varying, constant } = splitMetrics(data.metrics);
  const warnings = reportWarnings(data.metrics, data.evaluation, data.bounds ?? DEFAULT_BOUNDS);
  const charts = curveCharts(data.metrics, varying);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(data.title)}</title>
<style>
${STYLE}
</style></head><body>
<h1>${escapeHtml(data.title)}</h1>
${data.summary ? `<p><strong>${escapeHtml(data.summary)}</strong></p>` : ""}
${warningsSection(warnings)}
<h2>Evaluation</h2>
${table(data.evaluation)}
${data.generations?.length ? histogramSection(data.generations) : ""}
<h2>Learning curves</h2>
<p>Iterations are counted from 1, as <code>deno task train</code> counts them (checkpoint
<code>iter-N</code> holds the weights after iteration N).</p>
${phaseLegend(phaseSpans(data.metrics))}
<div class="charts">${charts || "<p>No metrics yet.</p>"}</div>
${constantsTable(constant)}
<h2>Samples</h2>
${samplesSection(data)}
<h2>Config</h2>
<details><summary>resolved config</summary><pre>${
    escapeHtml(JSON.stringify(data.config, null, 2))
  }</pre></details>
</body></html>
`;
}

/** One run of a comparison. */
export interface ComparedRun {
  /** A short name (the run folder's). */
  name: string;
  metrics: Record<string, unknown>[];
  evaluation: Record<string, string | number>[];
  bounds?: ReportBounds;
}

/**
 * Several runs in one page: each metric's curves overlaid (one colour per run), the
 * evaluation rows of every run, and each run's warnings.
 * @param runs the runs
 * @param title the page title
 * @returns the HTML
 */
export function renderComparison(runs: ComparedRun[], title = "rlgf runs compared"): string {
  const keys = [...new Set(runs.flatMap((r) => splitMetrics(r.metrics).varying))]
    .filter((k) => !HIDDEN.has(k)).sort(order);
  const charts = keys.map((key) =>
    svgChart(
      runs.map((run, i) => ({
        label: run.name,
        color: SERIES_COLORS[i % SERIES_COLORS.length],
        points: run.metrics.map((m, j) => [displayIteration(m, j), m[key]])
          .filter((p): p is [number, number] => typeof p[1] === "number"),
      })),
      {
        title: key === "reward_mean" ? "task reward (mean)" : TITLES[key] ?? key,
        width: 390,
        height: 260,
      },
    )
  ).filter(Boolean).join("\n");
  const rows = runs.flatMap((run) => run.evaluation.map((r) => ({ run: run.name, ...r })));
  const warnings = runs.map((run) => {
    const list = reportWarnings(run.metrics, run.evaluation, run.bounds ?? DEFAULT_BOUNDS);
    return `<h3>${escapeHtml(run.name)}</h3>${warningsSection(list)}`;
  }).join("\n");
  const phases = runs.map((run) => {
    const spans = phaseSpans(run.metrics);
    const names = [...new Set(spans.map((s) => s.phase))];
    return `<li><strong>${escapeHtml(run.name)}</strong>: ${run.metrics.length} iterations; ${
      escapeHtml(names.join(", ") || "no phases")
    }${
      spans.length > 1 && spans.length <= 6
        ? ` (${spans.map((s) => `${s.phase} ${s.from}-${s.to}`).join(", ")})`
        : ""
    }</li>`;
  }).join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>
${STYLE}
</style></head><body>
<h1>${escapeHtml(title)}</h1>
<ul>${phases}</ul>
<h2>Evaluation</h2>
${table(rows)}
<h2>Learning curves</h2>
<p>Iterations counted from 1.</p>
<div class="charts">${charts || "<p>No metrics.</p>"}</div>
<h2>Warnings</h2>
${warnings}
</body></html>
`;
}

/** A run folder's files, read for a report. */
export interface RunFiles {
  config: Record<string, unknown>;
  metrics: Record<string, unknown>[];
  evaluation: Record<string, string | number>[];
  generations: EvalGeneration[];
  samples: { prompt: string; before: string; after: string }[];
}

/**
 * Reads what a report needs from a run folder (config.json, metrics.jsonl and, when
 * present, evaluation.json, eval_generations.jsonl, samples.jsonl).
 * @param dir the run folder
 * @returns its files
 * @throws {InputError} naming the folder when it holds no run
 */
export async function readRunFiles(dir: string): Promise<RunFiles> {
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
  } catch (error) {
    throw new InputError(
      `not a run folder (cannot read config.json: ${(error as Error).message})`,
      dir,
    );
  }
  let evaluation: Record<string, string | number>[] = [];
  try {
    evaluation = JSON.parse(await Deno.readTextFile(`${dir}/evaluation.json`));
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      throw new InputError(`unreadable (${(error as Error).message})`, `${dir}/evaluation.json`);
    }
  }
  return {
    config,
    metrics: await readJsonl(`${dir}/metrics.jsonl`),
    evaluation,
    generations: await readJsonl<EvalGeneration>(`${dir}/eval_generations.jsonl`),
    samples: await readJsonl(`${dir}/samples.jsonl`),
  };
}

function reportTitle(config: Record<string, unknown>): string {
  const task = (config.task as { name?: string } | undefined)?.name ?? "?";
  return `rlgf ${config.algo} on ${task} (preset ${config.preset}, seed ${config.seed})`;
}

function boundsOf(config: Record<string, unknown>): ReportBounds {
  return { ...DEFAULT_BOUNDS, ...(config.report as Partial<ReportBounds> | undefined) };
}

/**
 * Writes `RUN/report.html` from the run folder's files (atomically).
 * @param dir the run folder
 * @param summary the headline sentence, if any
 * @returns the report's path
 */
export async function writeRunReport(dir: string, summary?: string): Promise<string> {
  const run = await readRunFiles(dir);
  const path = `${dir}/report.html`;
  await writeFileAtomic(
    path,
    renderReport({
      title: reportTitle(run.config),
      config: run.config,
      metrics: run.metrics,
      evaluation: run.evaluation,
      summary: summary ??
        headline(run.evaluation, new Set(run.generations.map((g) => g.id)).size),
      samples: run.samples,
      generations: run.generations,
      bounds: boundsOf(run.config),
    }),
  );
  return path;
}

const HELP = `Usage: deno task report RUN [RUN...] [--out FILE]

With one run folder: renders RUN/report.html again from the folder's files.
With several: one page comparing them (curves overlaid, evaluation rows, warnings),
written to --out (default compare.html).

Options:
  --out FILE   where to write the page (default: RUN/report.html, or compare.html)
  --title T    the comparison page's title
  -h, --help   this text`;

/**
 * `deno task report`: one run's report, or a comparison of several runs.
 * @param argv the arguments
 * @returns the page written, or null after --help
 */
export async function reportCommand(argv: string[]): Promise<string | null> {
  const { values, positionals } = parseFlags(argv, {
    out: { type: "string" },
    title: { type: "string" },
  }, { positionals: true });
  if (values.help) {
    console.log(HELP);
    return null;
  }
  if (positionals.length === 0) {
    throw new FlagError("give at least one run folder: deno task report RUN [RUN...]");
  }
  if (positionals.length === 1 && !values.out) {
    const path = await writeRunReport(positionals[0]);
    console.log(`report: ${path}`);
    return path;
  }
  const runs: ComparedRun[] = [];
  const names = positionals.map((p) => p.replace(/\/+$/, "").split("/").at(-1) || p);
  for (const [i, dir] of positionals.entries()) {
    const files = await readRunFiles(dir);
    const name = names.filter((n) => n === names[i]).length > 1 ? dir : names[i];
    runs.push({
      name,
      metrics: files.metrics,
      evaluation: files.evaluation,
      bounds: boundsOf(files.config),
    });
  }
  const out = values.out ?? "compare.html";
  await writeFileAtomic(
    out,
    runs.length === 1 && !values.title
      ? renderComparison(runs, reportTitle((await readRunFiles(positionals[0])).config))
      : renderComparison(runs, values.title),
  );
  console.log(`report: ${out}`);
  return out;
}

if (import.meta.main) Deno.exit(await runCommand(() => reportCommand(Deno.args), CONSOLE_IO));

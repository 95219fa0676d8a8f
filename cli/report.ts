/**
 * The run report: one self-contained HTML file (inline SVG charts, no scripts,
 * no network) with learning curves, the evaluation table and sample generations.
 * @module
 */

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
  /** Sample generations before and after training. */
  samples: { prompt: string; before: string; after: string }[];
}

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

/** An SVG line chart of `key` against the iteration number; empty string when no finite point. */
export function lineChart(
  metrics: Record<string, unknown>[],
  key: string,
  width = 420,
  height = 220,
): string {
  const points = metrics
    .map((m, i) => [typeof m.iteration === "number" ? m.iteration : i, m[key]] as const)
    .filter((p): p is readonly [number, number] =>
      typeof p[1] === "number" && Number.isFinite(p[1])
    );
  if (points.length === 0) return "";
  const pad = { left: 56, right: 12, top: 24, bottom: 28 };
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const [xMin, xMax] = [Math.min(...xs), Math.max(...xs)];
  let [yMin, yMax] = [Math.min(...ys), Math.max(...ys)];
  if (yMin === yMax) [yMin, yMax] = [yMin - 1, yMax + 1];
  const sx = (x: number) =>
    pad.left + (xMax === xMin ? 0.5 : (x - xMin) / (xMax - xMin)) * (width - pad.left - pad.right);
  const sy = (y: number) =>
    height - pad.bottom - ((y - yMin) / (yMax - yMin)) * (height - pad.top - pad.bottom);
  const path = points.map(([x, y], i) => `${i ? "L" : "M"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`)
    .join(" ");
  const axis = `M${pad.left},${pad.top} V${height - pad.bottom} H${width - pad.right}`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" role="img" aria-label="${
    escapeHtml(key)
  }">
<text x="${pad.left}" y="16" font-size="13" font-weight="bold">${escapeHtml(key)}</text>
<path d="${axis}" fill="none" stroke="#888"/>
<text x="${pad.left - 4}" y="${pad.top + 4}" font-size="10" text-anchor="end">${
    formatNumber(yMax)
  }</text>
<text x="${pad.left - 4}" y="${height - pad.bottom}" font-size="10" text-anchor="end">${
    formatNumber(yMin)
  }</text>
<text x="${pad.left}" y="${height - 8}" font-size="10">${xMin}</text>
<text x="${width - pad.right}" y="${
    height - 8
  }" font-size="10" text-anchor="end">iteration ${xMax}</text>
<path d="${path}" fill="none" stroke="#1f77b4" stroke-width="1.8"/>
${points.length === 1 ? `<circle cx="${sx(xs[0])}" cy="${sy(ys[0])}" r="3" fill="#1f77b4"/>` : ""}
</svg>`;
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

/** Renders the whole report as an HTML string. */
export function renderReport(data: ReportData): string {
  const keys = [...new Set(data.metrics.flatMap((m) => Object.keys(m)))]
    .filter((k) => k !== "iteration" && data.metrics.some((m) => typeof m[k] === "number"));
  const preferred = ["reward_mean", "kl", "kl_coef", "loss/policy", "loss/value", "entropy"];
  keys.sort((a, b) =>
    (preferred.indexOf(a) + 1 || 99) - (preferred.indexOf(b) + 1 || 99) || a.localeCompare(b)
  );
  const charts = keys.map((k) => lineChart(data.metrics, k)).filter(Boolean).join("\n");
  const samples = data.samples.map((s) =>
    `<tr><td>${escapeHtml(s.prompt)}</td><td>${escapeHtml(s.before)}</td><td>${
      escapeHtml(s.after)
    }</td></tr>`
  ).join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(data.title)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;max-width:1300px}
.charts{display:flex;flex-wrap:wrap;gap:12px}
table{border-collapse:collapse;margin:1rem 0}
td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;text-align:left}
pre{background:#f6f6f6;padding:1rem;overflow:auto}
</style></head><body>
<h1>${escapeHtml(data.title)}</h1>
${data.summary ? `<p><strong>${escapeHtml(data.summary)}</strong></p>` : ""}
<h2>Evaluation</h2>
${table(data.evaluation)}
<h2>Learning curves</h2>
<div class="charts">${charts || "<p>No metrics yet.</p>"}</div>
<h2>Samples</h2>
<table><thead><tr><th>prompt</th><th>before</th><th>after</th></tr></thead><tbody>${samples}</tbody></table>
<h2>Config</h2>
<details><summary>resolved config</summary><pre>${
    escapeHtml(JSON.stringify(data.config, null, 2))
  }</pre></details>
</body></html>
`;
}

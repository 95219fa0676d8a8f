/**
 * `deno task bench:serve [--models DIR,DIR] [--requests N] [--max-tokens N] [--clients 1,8,32]`:
 * starts `deno task serve` on each model folder (a child process, ONNX Runtime, defaults) and
 * drives it with 1, 8 and 32 concurrent clients, each sending the same fixed number of seeded
 * sampled completions one after another. Reports generated tokens per second, p50/p99 latency,
 * errors and the mean batch size (from the server's /metrics), and the throughput of the most
 * clients against one client's. Writes bench/results/serve.md and serve.json.
 * @module
 */
import { writeFileAtomic, writeJsonAtomic } from "../core/atomic.ts";
import { cpuModelName } from "../core/machine.ts";
import { commandFlags, integerFlag } from "../cli/flags.ts";

const HELP = `Usage: deno task bench:serve [options]

  --models LIST      model folders to serve, comma-separated
                     (default: tests/fixtures/tiny-gpt2 and assets/imdb-base, the imdb-small base)
  --clients LIST     concurrent clients per phase (default 1,8,32)
  --requests N       requests per client (default 16)
  --max-tokens N     tokens per completion (default 32)
  --top-k LIST       top_k settings to measure, comma-separated (default 0,50; 0 = the whole
                     vocabulary, as OpenAI samples)
  --out PATH         results without extension (default bench/results/serve)
  -h, --help         this text`;

const PROMPTS = [
  "This movie was",
  "I watched it last night and",
  "The acting in this film",
  "Honestly, the plot",
  "My favourite scene is when",
  "The director clearly",
  "Compared to the book, the film",
  "The soundtrack",
];

/** One phase's figures. */
interface Phase {
  model: string;
  topK: number;
  clients: number;
  requests: number;
  tokens: number;
  seconds: number;
  tokensPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  meanBatchRows: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const at = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, at)];
}

async function counters(origin: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${origin}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^rlgf_(\w+)_total (\S+)$/gm)) out[m[1]] = Number(m[2]);
  return out;
}

/**
 * Starts `serve` on a folder (named "bench", any free port, `extra` flags added); resolves with
 * its base URL once it listens.
 */
export async function startServer(dir: string, extra: string[] = []) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "cli/serve.ts", "--model", dir, "--port", "0", "--name", "bench", ...extra],
    cwd: new URL("..", import.meta.url).pathname,
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`serve ${dir} ended before listening:\n${seen}`);
    seen += value;
    const url = seen.match(/^serving .* at (http:\/\/\S+\/v1)/m)?.[1];
    if (url) {
      // keep draining its notes so the pipe never fills
      (async () => {
        while (!(await reader.read()).done) { /* notes */ }
      })().catch(() => {});
      return {
        baseUrl: url,
        engine: seen.match(/\((?:GPT-2|T5), ([^)]+)\)/)?.[1] ?? "?",
        stop: async () => {
          child.kill("SIGTERM");
          await child.status;
        },
      };
    }
  }
}

async function runPhase(
  baseUrl: string,
  model: string,
  clients: number,
  requests: number,
  maxTokens: number,
  topK: number,
): Promise<Phase> {
  const origin = baseUrl.replace(/\/v1$/, "");
  const before = await counters(origin);
  const latencies: number[] = [];
  let tokens = 0;
  let errors = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: clients }, async (_, client) => {
    for (let r = 0; r < requests; r++) {
      const t0 = performance.now();
      try {
        const response = await fetch(`${baseUrl}/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            model: "bench",
            prompt: PROMPTS[(client + r) % PROMPTS.length],
            max_tokens: maxTokens,
            temperature: 1,
            top_k: topK,
            seed: client * 1000 + r,
          }),
          signal: AbortSignal.timeout(120_000),
        });
        const json = await response.json();
        if (response.status !== 200) errors++;
        else tokens += json.usage.completion_tokens;
      } catch {
        errors++;
      }
      latencies.push(performance.now() - t0);
    }
  }));
  const seconds = (performance.now() - start) / 1000;
  const after = await counters(origin);
  const batches = after.batches - before.batches;
  latencies.sort((a, b) => a - b);
  return {
    model,
    topK,
    clients,
    requests: clients * requests,
    tokens,
    seconds,
    tokensPerSecond: tokens / seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    errors,
    meanBatchRows: batches > 0 ? (after.batch_rows - before.batch_rows) / batches : 0,
  };
}

/**
 * Runs the benchmark.
 * @param argv the command-line arguments
 */
export async function benchServe(argv: string[]): Promise<void> {
  const values = commandFlags(argv, {
    models: { type: "string" },
    clients: { type: "string" },
    requests: { type: "string" },
    "max-tokens": { type: "string" },
    "top-k": { type: "string" },
    out: { type: "string" },
  }, HELP);
  const models = (values.models ?? "tests/fixtures/tiny-gpt2,assets/imdb-base").split(",");
  const clients = (values.clients ?? "1,8,32").split(",").map((c) =>
    integerFlag("--clients", c, 1)!
  );
  const requests = integerFlag("--requests", values.requests, 1) ?? 16;
  const maxTokens = integerFlag("--max-tokens", values["max-tokens"], 1) ?? 32;
  const topKs = (values["top-k"] ?? "0,50").split(",").map((k) => integerFlag("--top-k", k)!);
  const out = values.out ?? "bench/results/serve";
  const phases: Phase[] = [];
  const engines: Record<string, string> = {};
  for (const dir of models) {
    const server = await startServer(dir);
    engines[dir] = server.engine;
    try {
      await runPhase(server.baseUrl, dir, 1, 2, maxTokens, 0); // warm-up
      for (const topK of topKs) {
        for (const c of clients) {
          const phase = await runPhase(server.baseUrl, dir, c, requests, maxTokens, topK);
          phases.push(phase);
          console.error(
            `${dir} | top_k ${topK} | ${c} clients | ${
              phase.tokensPerSecond.toFixed(0)
            } tokens/s | p50 ${phase.p50Ms.toFixed(0)} ms | p99 ${
              phase.p99Ms.toFixed(0)
            } ms | ${phase.errors} errors | batch ${phase.meanBatchRows.toFixed(1)}`,
          );
        }
      }
    } finally {
      await server.stop();
    }
  }
  const most = Math.max(...clients);
  const least = Math.min(...clients);
  const speedups = models.flatMap((dir) =>
    topKs.map((topK) => {
      const at = (c: number) =>
        phases.find((p) => p.model === dir && p.topK === topK && p.clients === c)!;
      return { model: dir, topK, speedup: at(most).tokensPerSecond / at(least).tokensPerSecond };
    })
  );
  const cpu = await cpuModelName();
  const md = [
    "# bench:serve",
    "",
    `\`deno task bench:serve\` on ${
      new Date().toISOString().slice(0, 10)
    }: ${cpu}, ${navigator.hardwareConcurrency} cores, Deno ${Deno.version.deno}.`,
    `Each client sends ${requests} sampled completions (temperature 1, ${maxTokens} tokens, seeded) one after another; the server is \`deno task serve\` with its defaults (max batch 32, 5 ms batching wait), in its own process.`,
    "",
    "| model | engine | top_k | clients | requests | tokens/s | p50 ms | p99 ms | errors | mean batch rows |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...phases.map((p) =>
      `| ${p.model} | ${engines[p.model]} | ${p.topK} | ${p.clients} | ${p.requests} | ${
        p.tokensPerSecond.toFixed(0)
      } | ${p.p50Ms.toFixed(0)} | ${p.p99Ms.toFixed(0)} | ${p.errors} | ${
        p.meanBatchRows.toFixed(1)
      } |`
    ),
    "",
    ...speedups.map((s) =>
      `- ${s.model}, top_k ${s.topK}: ${most} clients give ${
        s.speedup.toFixed(1)
      }x the throughput of ${least} (target 4x: ${s.speedup >= 4 ? "met" : "NOT met"})`
    ),
    "",
  ].join("\n");
  await writeFileAtomic(`${out}.md`, md);
  await writeJsonAtomic(`${out}.json`, { cpu, requests, maxTokens, phases, speedups });
  console.log(md);
}

if (import.meta.main) await benchServe(Deno.args);

/**
 * `deno task bench:speed [--rounds N] [--threads N] [--no-torch] [--no-stock]`: our GPT on tfjs-wasm
 * (with the kernels of kernels/, on one thread and split over worker threads) against the same
 * model in PyTorch (bench/torch_ref.py, Debian's python3-torch, 2 threads), interleaved in one run:
 * every round times each side once per task, and the report gives medians.
 *
 * Model: vocab 8192, d 256, 4 layers, 4 heads (5.3 M parameters). Tasks: a train step (forward,
 * backward, AdamW) on batch 16 x 128 tokens; a no-grad forward of the same batch; generation with KV
 * cache of 48 new tokens for 16 prompts of 64 tokens, top-k 50 sampling. Writes
 * bench/results/speed.md and speed.json; the last line printed is JSON with train_step_ratio
 * (ours/PyTorch seconds), generate_ratio (ours/PyTorch tokens per second, on the ONNX engine that
 * training uses for roll-outs; generate_ratio_tfjs on tfjs alone) and rl_iteration_s.
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import { writeFileAtomic, writeJsonAtomic } from "../core/atomic.ts";
import { Rng } from "../core/prng.ts";
import { initBackend } from "../models/backend.ts";
import { createGPT2, type GPT2LM } from "../models/gpt2.ts";
import { OnnxGpt2Engine } from "../models/onnx_engine.ts";
import { AdamW } from "../stages/adamw.ts";
import {
  installFastKernels,
  runOnHeap,
  startKernelThreads,
  unregisterFastKernels,
} from "../kernels/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "5" },
    threads: { type: "string", default: "1" },
    "no-torch": { type: "boolean", default: false },
    "no-stock": { type: "boolean", default: false },
    results: { type: "string", default: "bench/results" },
  },
});
const rounds = Number(values.rounds);
const workers = Number(values.threads);
if (!(Number.isInteger(rounds) && rounds > 0)) throw new RangeError("--rounds must be >= 1");
if (!(Number.isInteger(workers) && workers >= 0)) throw new RangeError("--threads must be >= 0");

const MODEL = { vocabSize: 8192, nEmbd: 256, nLayer: 4, nHead: 4, nPositions: 128 };
const TRAIN = { batch: 16, seq: 128 };
const GEN = { batch: 16, prompt: 64, newTokens: 48, topK: 50 };
const PYTHON = "/usr/bin/python3";

// ---- PyTorch side: a persistent process answering one JSON line per command ----

class TorchRef {
  #proc: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #lines: AsyncIterator<string>;
  #buffer = "";
  #reader: ReadableStreamDefaultReader<string>;

  constructor() {
    this.#proc = new Deno.Command(PYTHON, {
      args: [new URL("./torch_ref.py", import.meta.url).pathname],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#writer = this.#proc.stdin.getWriter();
    this.#reader = this.#proc.stdout.pipeThrough(new TextDecoderStream()).getReader();
    this.#lines = this.#readLines();
  }

  async *#readLines(): AsyncGenerator<string> {
    for (;;) {
      const newline = this.#buffer.indexOf("\n");
      if (newline >= 0) {
        const line = this.#buffer.slice(0, newline);
        this.#buffer = this.#buffer.slice(newline + 1);
        yield line;
        continue;
      }
      const { value, done } = await this.#reader.read();
      if (done) return;
      this.#buffer += value;
    }
  }

  async ask(request: Record<string, unknown>): Promise<Record<string, unknown>> {
    await this.#writer.write(new TextEncoder().encode(JSON.stringify(request) + "\n"));
    const { value, done } = await this.#lines.next();
    if (done) throw new Error(`torch_ref.py exited while answering ${request.cmd}`);
    const reply = JSON.parse(value);
    if (reply.error) throw new Error(`torch_ref.py: ${reply.error}`);
    return reply;
  }

  async close(): Promise<void> {
    await this.#writer.close();
    await this.#proc.status;
  }
}

async function torchAvailable(): Promise<string | null> {
  try {
    const out = await new Deno.Command(PYTHON, {
      args: ["-c", "import torch; print(torch.__version__)"],
      stdout: "piped",
      stderr: "null",
    }).output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : null;
  } catch {
    return null;
  }
}

// ---- our side ----

function randomRows(rng: Rng, rows: number, length: number, vocab: number): number[][] {
  return Array.from({ length: rows }, () => Array.from({ length }, () => rng.int(vocab)));
}

function trainStep(model: GPT2LM, optimizer: AdamW, rng: Rng): number {
  // one prompt token, then 128 continuation tokens: the trunk sees 128 positions
  const prompts = randomRows(rng, TRAIN.batch, 1, MODEL.vocabSize);
  const continuations = randomRows(rng, TRAIN.batch, TRAIN.seq, MODEL.vocabSize);
  const variables = model.trainableVariables();
  const t0 = performance.now();
  const { value, grads } = tf.variableGrads(() => {
    const out = model.forwardContinuation(prompts, continuations);
    return tf.neg(tf.mean(out.logProbs)) as tf.Scalar;
  }, variables);
  optimizer.step(variables.map((v) => grads[v.name] ?? null));
  value.dataSync();
  const seconds = (performance.now() - t0) / 1000;
  tf.dispose([value, ...Object.values(grads)]);
  return seconds;
}

function forwardPass(model: GPT2LM, rng: Rng): number {
  const prompts = randomRows(rng, TRAIN.batch, 1, MODEL.vocabSize);
  const continuations = randomRows(rng, TRAIN.batch, TRAIN.seq - 1, MODEL.vocabSize);
  const t0 = performance.now();
  const out = tf.tidy(() => model.forwardContinuation(prompts, continuations).logProbs);
  out.dataSync();
  const seconds = (performance.now() - t0) / 1000;
  out.dispose();
  return seconds;
}

async function generate(model: GPT2LM, rng: Rng): Promise<number> {
  const prompts = randomRows(rng, GEN.batch, GEN.prompt, MODEL.vocabSize);
  const t0 = performance.now();
  await model.generate(prompts, {
    maxNewTokens: GEN.newTokens,
    doSample: true,
    topK: GEN.topK,
    rng: rng.child("sample"),
    eosTokenId: null,
  });
  return (performance.now() - t0) / 1000;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

// ---- run ----

await initBackend("wasm");
const torchVersion = values["no-torch"] ? null : await torchAvailable();
if (!values["no-torch"] && torchVersion === null) {
  console.log(
    `PyTorch is missing: ${PYTHON} cannot import torch ` +
      "(apt-get install -y python3-torch libopenblas0-pthread); timing our side only",
  );
}
const torch = torchVersion === null ? null : new TorchRef();
const torchInfo = torch
  ? await torch.ask({
    cmd: "init",
    vocab: MODEL.vocabSize,
    d: MODEL.nEmbd,
    layers: MODEL.nLayer,
    heads: MODEL.nHead,
    positions: MODEL.nPositions,
    threads: 2,
  })
  : null;

const pool = workers > 0 ? await startKernelThreads({ workers }) : null;
const rng = new Rng(0);
const model = createGPT2(MODEL, rng.child("weights"));
const optimizer = new AdamW(model.trainableVariables(), { learningRate: 1e-4 });

type Side = "torch" | "ours_threads" | "ours_1thread" | "stock" | "onnx";
type Task = "train" | "forward" | "generate";
const empty = () => ({ train: [], forward: [], generate: [] });
/** Wall-clock seconds per side and task. */
const times: Record<Side, Record<Task, number[]>> = {
  torch: empty(),
  ours_threads: empty(),
  ours_1thread: empty(),
  stock: empty(),
  onnx: empty(),
};
/** CPU seconds of the whole process (all its threads) per side and task. */
const cpuTimes: Record<Side, Record<Task, number[]>> = {
  torch: empty(),
  ours_threads: empty(),
  ours_1thread: empty(),
  stock: empty(),
  onnx: empty(),
};
// The library's no-grad engine (models/onnx_engine.ts): training runs roll-outs and scoring here.
const engine = await OnnxGpt2Engine.create(model.config, { threads: 2 });

async function onnx(task: Task): Promise<Timing> {
  const before = process.cpuUsage();
  const r = rng.child(task);
  const t0 = performance.now();
  if (task === "forward") {
    const prompts = randomRows(r, TRAIN.batch, 1, MODEL.vocabSize);
    await engine.score(model, prompts, randomRows(r, TRAIN.batch, TRAIN.seq - 1, MODEL.vocabSize));
  } else {
    await engine.generate(model, randomRows(r, GEN.batch, GEN.prompt, MODEL.vocabSize), {
      maxNewTokens: GEN.newTokens,
      doSample: true,
      topK: GEN.topK,
      rng: r.child("sample"),
      eosTokenId: null,
    });
  }
  const wall = (performance.now() - t0) / 1000;
  const used = process.cpuUsage(before);
  return { wall, cpu: (used.user + used.system) / 1e6 };
}

/** One timing: wall-clock and CPU seconds. */
interface Timing {
  wall: number;
  cpu: number;
}

async function ours(task: Task): Promise<Timing> {
  const before = process.cpuUsage();
  const wall = task === "train"
    ? trainStep(model, optimizer, rng.child("train"))
    : task === "forward"
    ? forwardPass(model, rng.child("forward"))
    : await generate(model, rng.child("generate"));
  const used = process.cpuUsage(before);
  return { wall, cpu: (used.user + used.system) / 1e6 };
}

async function theirs(task: Task): Promise<Timing> {
  const request = task === "generate"
    ? { cmd: "generate", batch: GEN.batch, prompt: GEN.prompt, new: GEN.newTokens, top_k: GEN.topK }
    : { cmd: task, ...TRAIN };
  const reply = await torch!.ask(request);
  return { wall: reply.seconds as number, cpu: reply.cpu as number };
}

const tasks: Task[] = ["train", "forward", "generate"];
const memoryBefore = tf.memory().numTensors;
// round 0 warms up (wasm tier-up, PyTorch allocator) and is not counted
for (let round = 0; round <= rounds; round++) {
  for (const task of tasks) {
    const record = (side: Side, t: Timing) => {
      if (round > 0) {
        times[side][task].push(t.wall);
        cpuTimes[side][task].push(t.cpu);
      }
      console.log(
        `round ${round} ${task} ${side}: ${t.wall.toFixed(3)} s (cpu ${t.cpu.toFixed(3)} s)`,
      );
    };
    if (torch) record("torch", await theirs(task));
    if (pool) {
      installFastKernels(pool.runner);
      record("ours_threads", await ours(task));
    }
    installFastKernels(runOnHeap);
    record("ours_1thread", await ours(task));
    if (task !== "train") record("onnx", await onnx(task));
  }
}
// the same model code on tfjs-wasm's own kernels, once (what kernels/ saves)
if (!values["no-stock"]) {
  unregisterFastKernels();
  for (const task of tasks) {
    const t = await ours(task);
    times.stock[task].push(t.wall);
    cpuTimes.stock[task].push(t.cpu);
    console.log(`stock ${task}: ${t.wall.toFixed(3)} s (cpu ${t.cpu.toFixed(3)} s)`);
  }
}
const leaked = tf.memory().numTensors - memoryBefore;
pool?.stop();
unregisterFastKernels();
await torch?.close();

// ---- report ----

const med = (side: Side, task: Task) => times[side][task].length ? median(times[side][task]) : null;
// the ratios use the library's default configuration (registerFastKernels(): one thread)
const best: Side = "ours_1thread";
const cpuMed = (side: Side, task: Task) =>
  cpuTimes[side][task].length ? median(cpuTimes[side][task]) : null;
const tokens = GEN.batch * GEN.newTokens;
const ratio = (a: number | null, b: number | null) => (a !== null && b !== null ? a / b : null);
const trainRatio = ratio(med(best, "train"), med("torch", "train"));
// tokens/s ratios: the engine training uses for roll-outs (ONNX), and tfjs alone
const generateRatio = ratio(med("torch", "generate"), med("onnx", "generate"));
const generateRatioTfjs = ratio(med("torch", "generate"), med(best, "generate"));
// One RL iteration of the small IMDB setting on this model, estimated from the parts measured:
// 112 trajectories of 48 tokens (7 generate calls of 16 rows), four no-grad forwards (learner's
// old log-probs, reference, critic, guide) over 112 rows of 64 + 48 tokens, and 5 epochs of 4
// minibatches of 28 rows x 112 tokens (each scaled from the 16 x 128 step by token count).
function rlIteration(side: Side, noGrad: Side = side): number | null {
  const [gen, fwd, train] = [med(noGrad, "generate"), med(noGrad, "forward"), med(side, "train")];
  if (gen === null || fwd === null || train === null) return null;
  const perToken = (112 * 112) / (TRAIN.batch * TRAIN.seq);
  const stepScale = (28 * 112) / (TRAIN.batch * TRAIN.seq);
  return 7 * gen + 4 * perToken * fwd + 20 * stepScale * train;
}
// The library's default: no-grad work on the ONNX engine, the gradient step on tfjs + kernels/.
const rlIterationS = rlIteration(best, "onnx");

const cpu = new TextDecoder().decode(
  (await new Deno.Command("sh", { args: ["-c", "lscpu | grep 'Model name'"], stdout: "piped" })
    .output()).stdout,
).replace(/Model name:\s*/, "").trim();
const load = (await Deno.readTextFile("/proc/loadavg").catch(() => "")).split(" ").slice(0, 3);
const fmt = (x: number | null, digits = 3) => (x === null ? "n/a" : x.toFixed(digits));
const sides: Side[] = ["torch", "ours_threads", "ours_1thread", "stock", "onnx"];
const names: Record<Side, string> = {
  torch: `PyTorch ${torchInfo?.torch ?? "(missing)"}, 2 threads`,
  ours_threads: `tfjs-wasm + kernels/, main + ${workers} worker thread(s)`,
  ours_1thread: "tfjs-wasm + kernels/, 1 thread",
  stock: "models/ on tfjs-wasm 4.22's own kernels (1 run)",
  onnx: "ONNX Runtime engine (no-grad only), 2 threads",
};
const rows = sides.filter((s) => tasks.some((t) => times[s][t].length)).map((s) => {
  const gen = med(s, "generate");
  const cell = (task: Task) => `${fmt(med(s, task))} (${fmt(cpuMed(s, task), 2)})`;
  return `| ${names[s]} | ${cell("train")} | ${cell("forward")} | ${cell("generate")} | ${
    gen === null ? "n/a" : (tokens / gen).toFixed(0)
  } |`;
});
const trainCpuRatio = ratio(cpuMed(best, "train"), cpuMed("torch", "train"));
const summary = {
  train_step_ratio: trainRatio,
  generate_ratio: generateRatio,
  generate_ratio_tfjs: generateRatioTfjs,
  rl_iteration_s: rlIterationS,
  train_step_cpu_ratio: trainCpuRatio,
};
const report = [
  "# Speed: tfjs-wasm with kernels/ against PyTorch",
  "",
  `Run ${
    new Date().toISOString()
  } with \`deno task bench:speed --rounds ${rounds} --threads ${workers}\`.`,
  `Machine: ${cpu}, ${navigator.hardwareConcurrency} logical cores; load average at the end ` +
  `${load.join(" ")} (the cores are shared with other jobs, so only same-run ratios mean much).`,
  `Deno ${Deno.version.deno} (V8 ${Deno.version.v8}); ${names.torch}.`,
  "",
  `Model: GPT, vocab ${MODEL.vocabSize}, d ${MODEL.nEmbd}, ${MODEL.nLayer} layers, ${MODEL.nHead} ` +
  `heads (${torchInfo?.params ?? "5289472"} parameters). Medians of ${rounds} interleaved rounds ` +
  "after one warm-up round.",
  "",
  "Each cell: median wall-clock seconds (median CPU seconds of the process, all threads; OpenBLAS",
  "threads spin while waiting, so PyTorch's CPU time runs up to twice its wall time).",
  "",
  "| side | train step 16x128 (s) | forward 16x128 (s) | generate 16x48, prompt 64 (s) | tokens/s |",
  "|---|---|---|---|---|",
  ...rows,
  "",
  "Ratios use the library default (one thread); the threaded row is registerFastKernels({ threads: " +
  `${workers} }).`,
  ...(Number(load[0]) > navigator.hardwareConcurrency
    ? [
      "",
      `**The machine was oversubscribed** (load ${load[0]} on ${navigator.hardwareConcurrency} ` +
      "cores): PyTorch's two threads lose more wall time to that than our one thread, so the " +
      "wall-clock ratios flatter us; the CPU-second ratio is the steadier comparison. Rerun on an " +
      "idle machine before trusting either against the targets.",
    ]
    : []),
  "",
  `- train_step_ratio (ours/PyTorch time): ${fmt(trainRatio, 2)} (target <= 2)`,
  `- generate_ratio (ours/PyTorch tokens/s, ONNX engine as in training): ${
    fmt(generateRatio, 2)
  } (target >= 2)`,
  `- generate_ratio_tfjs (tfjs + kernels/ alone): ${fmt(generateRatioTfjs, 2)}`,
  `- train_step_cpu_ratio (ours/PyTorch CPU seconds): ${fmt(trainCpuRatio, 2)}`,
  `- rl_iteration_s (estimate for this model, see bench/speed.ts): ${fmt(rlIterationS, 1)}` +
  ` (PyTorch: ${fmt(rlIteration("torch"), 1)})`,
  `- tensors leaked over the run: ${leaked}`,
  "",
].join("\n");
await Deno.mkdir(values.results, { recursive: true });
await writeFileAtomic(`${values.results}/speed.md`, report);
await writeJsonAtomic(`${values.results}/speed.json`, { summary, times, cpuTimes, leaked, load });
console.log(report);
console.log(JSON.stringify(summary));

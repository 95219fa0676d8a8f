/**
 * `deno task bench [--rounds N] [--backend wasm|cpu]`: the GPT-2 policy's speed on stock
 * TensorFlow.js (no custom kernels), for one stated model size.
 *
 * Model: vocab 8192, d 256, 4 layers, 4 heads, 128 positions (5.3 M parameters), GPT-2 init.
 * - generation: 16 prompts of 64 tokens, 48 new tokens each, top-k 50 sampling, KV cache;
 *   reported as new tokens per second.
 * - train step: forward + backward + AdamW on 16 sequences of 128 tokens (a 64-token prompt and
 *   a 64-token continuation, loss = mean negative log-prob of the continuation).
 * - calibration: one plain [2048, 8192] x [8192, 256] matMul (273 ms on an idle machine).
 * Each task runs once to warm up, then `rounds` times; the report gives the median and the range,
 * in wall-clock time and in this process's CPU time (the cores are shared with other processes).
 * Writes bench/results/bench.json and bench.md.
 * @module
 */
import { cpuModelName } from "../core/machine.ts";
import process from "node:process";
import * as tf from "@tensorflow/tfjs-core";
import { writeFileAtomic, writeJsonAtomic } from "../core/atomic.ts";
import { Rng } from "../core/prng.ts";
import { type BackendName, initBackend } from "../models/backend.ts";
import { createGPT2, type GPT2LM } from "../models/gpt2.ts";
import { AdamW } from "../stages/adamw.ts";
import { choiceFlag, commandFlags, integerFlag } from "../cli/flags.ts";

const HELP = `Usage: deno task bench [options]

The GPT-2 policy's speed on stock TensorFlow.js (no custom kernels), 5.3 M parameters: generation
tokens/s, a train step, a calibration matMul. Writes RESULTS/bench.json and bench.md.

Options:
  --rounds N       timed rounds after a warm-up (default 3)
  --backend NAME   wasm | cpu (default wasm)
  --results DIR    where the results go (default bench/results)
  -h, --help       this text`;

const values = commandFlags(Deno.args, {
  rounds: { type: "string", default: "3" },
  backend: { type: "string", default: "wasm" },
  results: { type: "string", default: "bench/results" },
}, HELP);
const rounds = integerFlag("--rounds", values.rounds, 1)!;
choiceFlag("--backend", values.backend, ["wasm", "cpu"], "backend");

const MODEL = { vocabSize: 8192, nPositions: 128, nEmbd: 256, nLayer: 4, nHead: 4 };
const BATCH = 16;
const PROMPT = 64;
const NEW_TOKENS = 48;
const TRAIN_CONTINUATION = 64;

function randomRows(rng: Rng, rows: number, length: number): number[][] {
  return Array.from({ length: rows }, () => Array.from({ length }, () => rng.int(MODEL.vocabSize)));
}

function summary(samples: number[]): { median: number; min: number; max: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    median: sorted[Math.floor(sorted.length / 2)],
    min: sorted[0],
    max: sorted[sorted.length - 1],
  };
}

/** Wall seconds and this process's CPU seconds (user + system) since `start()`. */
function stopwatch(): () => { wall: number; cpu: number } {
  const wall = performance.now();
  const cpu = process.cpuUsage();
  return () => {
    const used = process.cpuUsage(cpu);
    return { wall: (performance.now() - wall) / 1000, cpu: (used.user + used.system) / 1e6 };
  };
}

async function timeGeneration(model: GPT2LM, rng: Rng): Promise<{ wall: number; cpu: number }> {
  const prompts = randomRows(rng.child("prompts"), BATCH, PROMPT);
  const stop = stopwatch();
  // minNewTokens = maxNewTokens so every row makes all 48 tokens (as on IMDB)
  const out = await model.generate(prompts, {
    maxNewTokens: NEW_TOKENS,
    minNewTokens: NEW_TOKENS,
    doSample: true,
    topK: 50,
    rng: rng.child("sampling"),
  });
  const time = stop();
  const made = out.reduce((a, r) => a + r.length, 0);
  if (made !== BATCH * NEW_TOKENS) {
    throw new Error(`Expected ${BATCH * NEW_TOKENS} tokens, got ${made}`);
  }
  return { wall: made / time.wall, cpu: made / time.cpu };
}

function timeTrainStep(model: GPT2LM, optimizer: AdamW, rng: Rng): { wall: number; cpu: number } {
  const prompts = randomRows(rng.child("prompts"), BATCH, PROMPT);
  const continuations = randomRows(rng.child("continuations"), BATCH, TRAIN_CONTINUATION);
  const stop = stopwatch();
  const { value, grads } = tf.variableGrads(
    () =>
      tf.tidy(() =>
        tf.neg(tf.mean(model.forwardContinuation(prompts, continuations).logProbs))
      ) as tf.Scalar,
    optimizer.variables as tf.Variable[],
  );
  optimizer.step(optimizer.variables.map((v) => grads[v.name]));
  value.dataSync(); // wait for the step to finish
  const time = stop();
  tf.dispose([value, ...Object.values(grads)]);
  return time;
}

/**
 * A plain [2048, 8192] x [8192, 256] matMul, which environment.md measured at 273 ms on an idle
 * machine: its time here shows how much the other processes slowed this run down.
 */
function timeCalibration(): { wall: number; cpu: number } {
  const [a, b] = [tf.randomNormal([2048, 8192]), tf.randomNormal([8192, 256])] as tf.Tensor2D[];
  const stop = stopwatch();
  const c = tf.matMul(a, b);
  c.dataSync();
  const time = stop();
  tf.dispose([a, b, c]);
  return time;
}

const loadBefore = Deno.loadavg();
const backend = await initBackend(values.backend as BackendName);
const rng = new Rng(0);
const model = createGPT2(MODEL, rng.child("init"));
const params = model.trainableVariables().reduce((a, v) => a + v.size, 0);
const optimizer = new AdamW(model.trainableVariables(), { learningRate: 1e-4 });

const generation = { wall: [] as number[], cpu: [] as number[] };
const train = { wall: [] as number[], cpu: [] as number[] };
const calibration = { wall: [] as number[], cpu: [] as number[] };
for (let round = 0; round <= rounds; round++) {
  const r = rng.child(`round-${round}`);
  const gen = await timeGeneration(model, r.child("generate"));
  const step = timeTrainStep(model, optimizer, r.child("train"));
  const matMul = timeCalibration();
  if (round === 0) continue; // warm-up
  calibration.wall.push(matMul.wall);
  calibration.cpu.push(matMul.cpu);
  generation.wall.push(gen.wall);
  generation.cpu.push(gen.cpu);
  train.wall.push(step.wall);
  train.cpu.push(step.cpu);
  console.log(
    `round ${round}: generate ${gen.wall.toFixed(0)} tok/s (${
      gen.cpu.toFixed(0)
    } per CPU second), ` +
      `train step ${step.wall.toFixed(2)} s (${step.cpu.toFixed(2)} CPU s)`,
  );
}
optimizer.dispose();
model.dispose();

const result = {
  date: new Date().toISOString(),
  machine: {
    cpu: await cpuModelName(),
    logicalCores: navigator.hardwareConcurrency,
    os: `${Deno.build.os} ${Deno.build.arch}`,
    deno: Deno.version.deno,
    // other processes share the cores: the 1-minute load average before and after the run
    loadAverage1m: { before: loadBefore[0], after: Deno.loadavg()[0] },
  },
  backend,
  model: { ...MODEL, parameters: params },
  rounds,
  // wall-clock figures depend on what else runs; CPU figures (this process's user + system time,
  // one thread) approximate an idle machine's wall clock
  generate: {
    batch: BATCH,
    promptTokens: PROMPT,
    newTokens: NEW_TOKENS,
    sampling: "top-k 50, temperature 1, KV cache",
    tokensPerSecond: summary(generation.wall),
    tokensPerCpuSecond: summary(generation.cpu),
  },
  calibrationMatMul: {
    shape: "[2048, 8192] x [8192, 256]",
    idleSeconds: 0.273,
    seconds: summary(calibration.wall),
    cpuSeconds: summary(calibration.cpu),
  },
  trainStep: {
    batch: BATCH,
    sequenceTokens: PROMPT + TRAIN_CONTINUATION,
    optimizer: "AdamW (stages/adamw.ts)",
    seconds: summary(train.wall),
    cpuSeconds: summary(train.cpu),
  },
};
const range = (x: { median: number; min: number; max: number }, digits: number) =>
  `${x.median.toFixed(digits)} [${x.min.toFixed(digits)}-${x.max.toFixed(digits)}]`;
const machine = result.machine;
const slowdown = result.calibrationMatMul.cpuSeconds.median / result.calibrationMatMul.idleSeconds;
const idleEstimate = {
  note: "CPU-time medians corrected by the calibration matMul's CPU-time slowdown",
  slowdown,
  tokensPerSecond: result.generate.tokensPerCpuSecond.median * slowdown,
  trainStepSeconds: result.trainStep.cpuSeconds.median / slowdown,
};
await Deno.mkdir(values.results, { recursive: true });
await writeJsonAtomic(`${values.results}/bench.json`, { ...result, idleEstimate });
const md = `# GPT-2 policy speed on stock TensorFlow.js (\`deno task bench\`)

${result.date} · ${machine.cpu} · ${machine.logicalCores} logical cores · ${machine.os} · Deno ${machine.deno} · backend ${backend}

Model: vocab ${MODEL.vocabSize}, d ${MODEL.nEmbd}, ${MODEL.nLayer} layers, ${MODEL.nHead} heads (${
  (params / 1e6).toFixed(1)
} M parameters). Median of ${rounds} rounds after one warm-up, [min-max].

Other processes shared the cores (1-minute load average ${
  machine.loadAverage1m.before.toFixed(1)
} before,
${machine.loadAverage1m.after.toFixed(1)} after). Wall-clock figures count their interference in
full; the CPU figures count only this process's CPU time (tfjs-wasm runs on one thread), which
shared caches and hyperthreads still inflate: the calibration matMul took ${
  slowdown.toFixed(1)
}x its idle-machine time in CPU time. Idle-machine estimates (CPU figures corrected by that
factor): generation ${idleEstimate.tokensPerSecond.toFixed(0)} tokens/s, train step ${
  idleEstimate.trainStepSeconds.toFixed(2)
} s.

| task | wall clock | per CPU time |
|---|---|---|
| generate ${NEW_TOKENS} tokens x ${BATCH} prompts of ${PROMPT} (top-k 50, KV cache) | ${
  range(result.generate.tokensPerSecond, 0)
} tokens/s | ${range(result.generate.tokensPerCpuSecond, 0)} tokens/CPU-s |
| train step, ${BATCH} x ${PROMPT + TRAIN_CONTINUATION} tokens (forward + backward + AdamW) | ${
  range(result.trainStep.seconds, 2)
} s | ${range(result.trainStep.cpuSeconds, 2)} CPU-s |
| calibration: plain matMul [2048, 8192] x [8192, 256] (273 ms on an idle machine, environment.md) | ${
  range(result.calibrationMatMul.seconds, 3)
} s | ${range(result.calibrationMatMul.cpuSeconds, 3)} CPU-s |
`;
await writeFileAtomic(`${values.results}/bench.md`, md);
console.log(md);

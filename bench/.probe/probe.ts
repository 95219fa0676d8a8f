import process from "node:process";
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import { writeFileAtomic, writeJsonAtomic } from "../../core/atomic.ts";
import { Rng } from "../../core/prng.ts";
import { initBackend } from "../../models/backend.ts";
import { createGPT2, GPT2LM } from "../../models/gpt2.ts";
import {
  OnnxAcceleratedLM,
  OnnxAcceleratedValueModel,
  OnnxGpt2Engine,
} from "../../models/onnx_engine.ts";
import type { Tokenizer } from "../../models/types.ts";
import { createValueModel } from "../../models/value.ts";
import { lastValueFrom } from "rxjs";
import { trainOptions } from "../../pipelines/options.ts";
import { runAlgorithm } from "../../pipelines/run_algorithm.ts";
import { createAlgorithmState, disposeAlgorithmState } from "../../pipelines/state.ts";
import type { PromptRecord } from "../../tasks/types.ts";
import { AdamW } from "../../stages/adamw.ts";
import {
  installFastKernels,
  runOnHeap,
  startKernelThreads,
  unregisterFastKernels,
} from "../../kernels/mod.ts";

const MODEL = { vocabSize: Number(Deno.args[0] ?? 8192), nEmbd: Number(Deno.args[1] ?? 256), nLayer: Number(Deno.args[2] ?? 4), nHead: 4, nPositions: 128 };
function randomRows(rng: Rng, rows: number, length: number, vocab: number): number[][] {
  return Array.from({ length: rows }, () => Array.from({ length }, () => rng.int(vocab)));
}
interface Timing { wall: number; cpu: number }
const stats: Record<string, { n: number; s: number }> = {};
function wrap(proto: any, name: string, label: string) {
  const orig = proto[name];
  proto[name] = function (...args: unknown[]) {
    const t0 = performance.now();
    const r = orig.apply(this, args);
    const done = () => {
      const st = stats[label] ??= { n: 0, s: 0 };
      st.n++; st.s += (performance.now() - t0) / 1000;
      const mem = tf.memory();
      console.log(`${label} ${((performance.now() - t0) / 1000).toFixed(2)}s heap ${(mem.numBytes / 2 ** 20).toFixed(0)}MiB wasm ${((tf.backend() as any).wasm.HEAPU8.length / 2 ** 20).toFixed(0)}MiB tensors ${mem.numTensors}`);
    };
    if (r instanceof Promise) return r.then((x) => { done(); return x; });
    done();
    return r;
  };
}
wrap(OnnxAcceleratedLM.prototype, "generate", "lm.generate");
wrap(OnnxAcceleratedLM.prototype, "continuationLogProbs", "lm.logprobs");
wrap(OnnxAcceleratedValueModel.prototype, "values", "critic.values");
wrap(GPT2LM.prototype, "forwardContinuation", "gpt2.forwardContinuation");
wrap(AdamW.prototype, "step", "adamw.step");
/** Peak resident memory of this process so far (VmHWM), in MiB; null off Linux. */
async function peakRssMiB(): Promise<number | null> {
  const status = await Deno.readTextFile("/proc/self/status").catch(() => "");
  const match = /^VmHWM:\s+(\d+) kB/m.exec(status);
  return match ? Number(match[1]) / 1024 : null;
}

/**
 * Word-per-id tokenizer over a synthetic vocabulary ("w0 w1 ..."): the pipeline needs text
 * for prompts and rewards, and this one round-trips every id exactly.
 */
class SyntheticTokenizer implements Tokenizer {
  readonly eosTokenId: number;
  readonly padTokenId: number;
  constructor(readonly vocabSize: number) {
    this.eosTokenId = vocabSize - 1;
    this.padTokenId = vocabSize - 1;
  }
  encode(text: string): number[] {
    return text.split(" ").filter((w) => w).map((w) => Number(w.slice(1)));
  }
  decode(ids: number[]): string {
    return ids.filter((id) => id !== this.eosTokenId).map((id) => `w${id}`).join(" ");
  }
}

/** The small IMDB setting's shape: trajectories, prompt and new tokens. */
const RL = { trajectories: 112, prompt: 64, newTokens: 48 };
/** Positions the RL models get at least (see measureRlIteration). */
const RL_POSITIONS = RL.prompt + 2 * RL.newTokens;

/** One measured RL iteration: wall and CPU seconds, and what the pipeline reported. */
interface RlTiming extends Timing {
  /** The iteration's own `seconds` metric (runIterations' clock). */
  pipelineSeconds: number;
  updates: number;
  tokens: number;
}

/**
 * Runs one PPO++ iteration of the small IMDB setting through runAlgorithm, wired as
 * cli/setup.ts wires a run: learner, reference (a clone), guide (another GPT of the same shape)
 * and a separate critic, all on one ONNX engine for their no-grad work. The reward is the share
 * of generated tokens in the lower half of the vocabulary: cheap, so the time is the models'.
 */
async function measureRlIteration(
  shape: typeof MODEL,
  seed: number,
): Promise<RlTiming> {
  const rng = new Rng(seed);
  const tokenizer = new SyntheticTokenizer(shape.vocabSize);
  // 64 + 48 tokens must fit, and more: a roll-out batch mixes rows of prompt + k roll-in tokens
  // (k up to 47) with per-row budgets 48 - k, and the ONNX decode session runs the longest input
  // plus the largest budget, up to 64 + 47 + 48 positions (with 112 or 128 it fails in a Gather).
  // So the models get 160 positions; the position table is the only weight that grows.
  const config = {
    ...shape,
    nPositions: Math.max(shape.nPositions, RL_POSITIONS),
    bosTokenId: tokenizer.eosTokenId,
    eosTokenId: tokenizer.eosTokenId,
  };
  const learner = createGPT2(config, rng.child("learner"));
  const guide = createGPT2(config, rng.child("guide"));
  const critic = createValueModel(learner, rng.child("critic"), { shared: false });
  const engine = await OnnxGpt2Engine.create(learner.config, { threads: 2 });
  const ids = rng.child("records");
  const records: PromptRecord[] = Array.from({ length: RL.trajectories }, (_, i) => ({
    id: `r${i}`,
    prompt: tokenizer.decode(randomRows(ids, 1, RL.prompt, shape.vocabSize - 1)[0]),
    references: [tokenizer.decode(randomRows(ids, 1, RL.newTokens, shape.vocabSize - 1)[0])],
  }));
  const half = shape.vocabSize / 2;
  const reward = (batch: { generations: string[] }) =>
    Promise.resolve(batch.generations.map((text) => {
      const words = tokenizer.encode(text);
      return words.length ? words.filter((id) => id < half).length / words.length : 0;
    }));
  const options = trainOptions({
    iterations: 1,
    trajectoriesPerUpdate: RL.trajectories,
    maxPromptTokens: RL.prompt,
    generation: { maxNewTokens: RL.newTokens, minNewTokens: RL.newTokens, topK: 50 },
    learner: { epochs: 5, minibatchSize: 28 },
  });
  const state = createAlgorithmState({
    learner: new OnnxAcceleratedLM(learner, engine),
    reference: new OnnxAcceleratedLM(learner.clone(), engine),
    guide: new OnnxAcceleratedLM(guide, engine),
    critics: { learner: new OnnxAcceleratedValueModel(critic, engine) },
    tokenizer,
    records,
    reward,
    rng: rng.child("run"),
  }, options);
  const before = process.cpuUsage();
  const t0 = performance.now();
  const metrics = await lastValueFrom(runAlgorithm("ppo++", state, options));
  const wall = (performance.now() - t0) / 1000;
  const used = process.cpuUsage(before);
  disposeAlgorithmState(state);
  guide.dispose();
  const m = metrics as { seconds: number; updates: number; tokens: number };
  return {
    wall,
    cpu: (used.user + used.system) / 1e6,
    pipelineSeconds: m.seconds,
    updates: m.updates,
    tokens: m.tokens,
  };
}

// ---- run ----
await initBackend("wasm");
const t = await measureRlIteration(MODEL, 1);
console.log(t, stats);

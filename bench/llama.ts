/**
 * `deno task bench:llama [--repeats N] [--modes generate,full,lora]`: a random Llama of
 * SmolLM2-135M's shape (30 layers, hidden 576, 9 heads / 3 key-value heads, intermediate 1536,
 * vocabulary 49,152, tied head) on our engine and the same shapes in PyTorch
 * (bench/torch_llama.py, Debian's python3-torch), each mode alone in its own process so its peak
 * memory is its own: generation of 4 × (64 + 48) tokens with a KV cache (top-k 50), a train step
 * of 4 × (64 + 48) with every weight, and with LoRA r 16 on q, k, v, o, gate, up, down. Writes
 * bench/results/llama.md and llama.json.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { writeFileAtomic, writeJsonAtomic } from "../core/atomic.ts";
import { cpuModelName } from "../core/machine.ts";
import { Rng } from "../core/prng.ts";
import { commandFlags, integerFlag } from "../cli/flags.ts";
import { initBackend } from "../models/backend.ts";
import { loraGraphSpec, OnnxLlamaEngine, OnnxLlamaLM } from "../models/engine/mod.ts";
import { llamaFromHost } from "../models/llama.ts";
import { llamaConfigFromHF, llamaWeightShapes } from "../models/llama_config.ts";
import { createLoraAdapters, LLAMA_LORA_LAYOUT, LLAMA_PROJECTIONS } from "../models/lora.ts";
import { AdamW } from "../stages/adamw.ts";

const HELP = `Usage: deno task bench:llama [options]

  --modes LIST    generate, full, lora (default all three)
  --repeats N     timed repeats per mode after one warm-up (default 3)
  -h, --help      this text`;

/** SmolLM2-135M's shape. */
const SHAPE = {
  vocab: 49152,
  d: 576,
  layers: 30,
  heads: 9,
  kv_heads: 3,
  head_dim: 64,
  ff: 1536,
  theta: 100000,
};

interface Result {
  side: "ours" | "pytorch";
  mode: string;
  seconds: number;
  peak_mib: number;
  params: number;
  trained: number;
}

async function peakMiB(): Promise<number> {
  const status = await Deno.readTextFile("/proc/self/status");
  return Number(/^VmHWM:\s+(\d+) kB/m.exec(status)![1]) / 1024;
}

/** One mode on our engine, in this process (the child's side). */
async function measure(mode: string, repeats: number): Promise<Result> {
  await initBackend();
  const config = llamaConfigFromHF({
    model_type: "llama",
    vocab_size: SHAPE.vocab,
    hidden_size: SHAPE.d,
    intermediate_size: SHAPE.ff,
    num_hidden_layers: SHAPE.layers,
    num_attention_heads: SHAPE.heads,
    num_key_value_heads: SHAPE.kv_heads,
    head_dim: SHAPE.head_dim,
    rope_theta: SHAPE.theta,
    max_position_embeddings: 2048,
    tie_word_embeddings: true,
    bos_token_id: 0,
    eos_token_id: 0,
  }, "SmolLM2-135M shape");
  // a fast stream for 135 M weights: N(0, 0.02) by the sum of four uniforms, norms at 1
  let state = 12345;
  const uniform = () => ((state = (state * 1103515245 + 12345) >>> 0) / 4294967296);
  const weights = new Map([...llamaWeightShapes(config)].map(([name, shape]) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const ones = name.endsWith("norm.weight");
    const data = new Float32Array(size);
    for (let i = 0; i < size; i++) {
      data[i] = ones ? 1 : (uniform() + uniform() + uniform() + uniform() - 2) * 0.0346;
    }
    return [name, { shape, data }];
  }));
  const base = llamaFromHost(config, weights, "random");
  weights.clear();
  const adapters = mode === "lora"
    ? createLoraAdapters(
      llamaWeightShapes(config),
      {
        r: 16,
        alpha: 32,
        dropout: 0,
        targetModules: [...LLAMA_PROJECTIONS],
      },
      new Rng(1),
      LLAMA_LORA_LAYOUT,
    )
    : null;
  const model = adapters ? base.withLora(adapters) : base;
  const engine = await OnnxLlamaEngine.create(
    config,
    adapters ? { lora: loraGraphSpec(adapters) } : {},
  );
  const policy = new OnnxLlamaLM(model, engine);
  const variables = policy.trainableVariables();
  const optimizer = mode === "generate"
    ? null
    : new AdamW(variables, { learningRate: 1e-5, weightDecay: 0 });
  const rng = new Rng(2);
  const rows = (n: number) =>
    Array.from({ length: 4 }, () => Array.from({ length: n }, () => rng.int(SHAPE.vocab)));
  const step = async () => {
    if (mode === "generate") {
      const prompts = rows(64);
      await policy.generate(prompts, {
        maxNewTokens: 48,
        doSample: true,
        topK: 50,
        eosTokenId: null,
        seeds: prompts.map(() => rng.int(2 ** 31)),
      });
      return;
    }
    const prompts = rows(64), continuations = rows(48);
    const { value, grads } = tf.variableGrads(() => {
      const out = policy.forwardContinuation(prompts, continuations);
      out.hidden.dispose();
      return tf.neg(tf.mean(out.logProbs)) as tf.Scalar;
    }, variables);
    optimizer!.step(variables.map((v) => grads[v.name]), { maxGradNorm: 1 });
    tf.dispose([value, ...Object.values(grads)]);
  };
  await step(); // warm-up: sessions, arenas
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    await step();
    times.push((performance.now() - start) / 1000);
  }
  times.sort((a, b) => a - b);
  const count = (vs: tf.Variable[]) => vs.reduce((n, v) => n + v.size, 0);
  const result: Result = {
    side: "ours",
    mode,
    seconds: times[Math.floor(times.length / 2)],
    peak_mib: await peakMiB(),
    params: count([...base.weights.values()]),
    trained: mode === "generate" ? 0 : count(variables),
  };
  await engine.dispose();
  optimizer?.dispose();
  policy.dispose();
  if (adapters) base.dispose();
  return result;
}

async function child(args: string[]): Promise<string> {
  const out = await new Deno.Command(args[0], {
    args: args.slice(1),
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1) ?? "";
  if (out.code !== 0) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" | ");
    throw new Error(`${args.slice(0, 3).join(" ")} failed (${out.code}): ${err}`);
  }
  return text;
}

if (import.meta.main) {
  if (Deno.args[0] === "--child") {
    console.log(JSON.stringify(await measure(Deno.args[1], Number(Deno.args[2]))));
  } else {
    const values = commandFlags(Deno.args, {
      modes: { type: "string" },
      repeats: { type: "string" },
    }, HELP);
    const modes = (values.modes ?? "generate,full,lora").split(",");
    const repeats = integerFlag("--repeats", values.repeats, 1) ?? 3;
    const here = new URL(".", import.meta.url).pathname;
    const results: (Result | { side: string; mode: string; error: string })[] = [];
    for (const mode of modes) {
      for (const side of ["ours", "pytorch"] as const) {
        try {
          const line = side === "ours"
            ? await child([
              Deno.execPath(),
              "run",
              "-A",
              `${here}llama.ts`,
              "--child",
              mode,
              String(repeats),
            ])
            : await child([
              "/usr/bin/python3",
              `${here}torch_llama.py`,
              mode,
              JSON.stringify(SHAPE),
              String(repeats),
            ]);
          const r = JSON.parse(line) as Result;
          results.push({ ...r, side });
          console.error(
            `${side} ${mode}: ${r.seconds.toFixed(2)} s, peak ${r.peak_mib.toFixed(0)} MiB`,
          );
        } catch (error) {
          results.push({ side, mode, error: (error as Error).message });
          console.error(`${side} ${mode}: ${(error as Error).message}`);
        }
      }
    }
    const cpu = await cpuModelName();
    const find = (side: string, mode: string) =>
      results.find((r) => r.side === side && r.mode === mode && "seconds" in r) as
        | Result
        | undefined;
    const rowsMd = modes.map((mode) => {
      const a = find("ours", mode), b = find("pytorch", mode);
      const fmt = (r?: Result) =>
        r ? `${r.seconds.toFixed(2)} | ${r.peak_mib.toFixed(0)}` : "failed | -";
      const ratio = a && b ? `${(a.seconds / b.seconds).toFixed(2)}x` : "-";
      const tokens = mode === "generate" && a && b
        ? ` (${(192 / a.seconds).toFixed(0)} vs ${(192 / b.seconds).toFixed(0)} tokens/s)`
        : "";
      return `| ${mode}${tokens} | ${fmt(a)} | ${fmt(b)} | ${ratio} |`;
    });
    const md = [
      "# bench:llama",
      "",
      `\`deno task bench:llama --repeats ${repeats}\` on ${
        new Date().toISOString().slice(0, 10)
      }: ${cpu}, ${navigator.hardwareConcurrency} cores, Deno ${Deno.version.deno}.`,
      "A random Llama of SmolLM2-135M's shape (30 layers, hidden 576, 9 / 3 heads, intermediate 1536, vocabulary 49,152, tied head). generate: 4 × (64 prompt + 48 sampled tokens, top-k 50, KV cache); full: one train step of 4 × (64 + 48), AdamW on every weight; lora: the same with LoRA r 16 on q, k, v, o, gate, up, down. Median of the timed repeats after a warm-up; each mode and side alone in its own process (peak = its VmHWM / ru_maxrss).",
      "",
      "| mode | ours s | ours peak MiB | PyTorch s | PyTorch peak MiB | ours / PyTorch |",
      "|---|---:|---:|---:|---:|---:|",
      ...rowsMd,
      "",
    ].join("\n");
    await writeFileAtomic("bench/results/llama.md", md);
    await writeJsonAtomic("bench/results/llama.json", { cpu, shape: SHAPE, repeats, results });
    console.log(md);
  }
}

/**
 * `deno task bench:lora [--models small,medium] [--steps N] [--rank R]`: a gradient step of
 * GPT-2 small (124 M) and a GPT-2-medium-shaped model (355 M, random weights) on the library's
 * default route (ONNX Runtime forward and backward, AdamW on tfjs), full fine-tuning against LoRA
 * (r 16 on c_attn, c_proj, c_fc), each configuration alone in a child process so its peak memory
 * (VmHWM) is its own. Batch 4 × 112 tokens (64 prompt + 48 continuation), log-prob loss. Writes
 * bench/results/lora.md and lora.json.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { writeFileAtomic, writeJsonAtomic } from "../core/atomic.ts";
import { cpuModelName } from "../core/machine.ts";
import { Rng } from "../core/prng.ts";
import { commandFlags, integerFlag } from "../cli/flags.ts";
import { initBackend } from "../models/backend.ts";
import { createGPT2, gpt2WeightShapes } from "../models/gpt2.ts";
import { createLoraAdapters } from "../models/lora.ts";
import { loraGraphSpec, OnnxAcceleratedLM, OnnxGpt2Engine } from "../models/engine/mod.ts";
import { AdamW } from "../stages/adamw.ts";

const HELP = `Usage: deno task bench:lora [options]

  --models LIST   small, medium (default both)
  --steps N       timed gradient steps per configuration after one warm-up (default 3)
  --rank R        LoRA rank (default 16)
  -h, --help      this text`;

const SHAPES = {
  small: { nEmbd: 768, nLayer: 12, nHead: 12 },
  medium: { nEmbd: 1024, nLayer: 24, nHead: 16 },
} as const;

interface Result {
  model: string;
  mode: string;
  parameters: number;
  trained: number;
  stepSeconds: number;
  peakMiB: number;
}

async function peakMiB(): Promise<number> {
  const status = await Deno.readTextFile("/proc/self/status");
  return Number(/^VmHWM:\s+(\d+) kB/m.exec(status)![1]) / 1024;
}

/** One configuration, in this process (the child's side). */
async function measure(model: keyof typeof SHAPES, mode: string, steps: number, rank: number) {
  await initBackend();
  const gpt = createGPT2({ ...SHAPES[model], vocabSize: 50257, nPositions: 1024 }, new Rng(0));
  const lora = mode === "lora"
    ? createLoraAdapters(gpt2WeightShapes(gpt.config), {
      r: rank,
      alpha: 2 * rank,
      dropout: 0,
      targetModules: ["c_attn", "c_proj", "c_fc"],
    }, new Rng(1))
    : null;
  const learner = lora ? gpt.withLora(lora) : gpt;
  const engine = await OnnxGpt2Engine.create(gpt.config, {
    gradients: true,
    ...(lora ? { lora: loraGraphSpec(lora) } : {}),
  });
  const fast = new OnnxAcceleratedLM(learner, engine);
  const variables = learner.trainableVariables();
  const optimizer = new AdamW(variables, { learningRate: 1e-5, weightDecay: 0 });
  const rng = new Rng(2);
  const rows = (n: number) =>
    Array.from({ length: 4 }, () => Array.from({ length: n }, () => rng.int(50257)));
  const step = () => {
    const prompts = rows(64), continuations = rows(48);
    const { value, grads } = tf.variableGrads(() => {
      const out = fast.forwardContinuation(prompts, continuations);
      out.hidden.dispose();
      return tf.neg(tf.mean(out.logProbs)) as tf.Scalar;
    }, variables);
    optimizer.step(variables.map((v) => grads[v.name]), { maxGradNorm: 1 });
    tf.dispose([value, ...Object.values(grads)]);
  };
  step(); // warm-up: sessions, arenas
  const start = performance.now();
  for (let i = 0; i < steps; i++) step();
  const stepSeconds = (performance.now() - start) / 1000 / steps;
  const count = (vs: tf.Variable[]) => vs.reduce((n, v) => n + v.size, 0);
  const result: Result = {
    model,
    mode,
    parameters: count([...gpt.weights.values()]),
    trained: count(variables),
    stepSeconds,
    peakMiB: await peakMiB(),
  };
  console.log(JSON.stringify(result));
  await engine.dispose();
  optimizer.dispose();
  learner.dispose();
  if (lora) gpt.dispose();
}

if (import.meta.main) {
  if (Deno.args[0] === "--child") {
    await measure(
      Deno.args[1] as keyof typeof SHAPES,
      Deno.args[2],
      Number(Deno.args[3]),
      Number(Deno.args[4]),
    );
  } else {
    const values = commandFlags(Deno.args, {
      models: { type: "string" },
      steps: { type: "string" },
      rank: { type: "string" },
    }, HELP);
    const models = (values.models ?? "small,medium").split(",") as (keyof typeof SHAPES)[];
    const steps = integerFlag("--steps", values.steps, 1) ?? 3;
    const rank = integerFlag("--rank", values.rank, 1) ?? 16;
    const results: (Result | { model: string; mode: string; error: string })[] = [];
    for (const model of models) {
      for (const mode of ["full", "lora"]) {
        const out = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            new URL(import.meta.url).pathname,
            "--child",
            model,
            mode,
            String(steps),
            String(rank),
          ],
          stdout: "piped",
          stderr: "piped",
          env: { NO_COLOR: "1" }, // plain error lines
        }).output();
        const line = new TextDecoder().decode(out.stdout).split("\n").find((l) =>
          l.startsWith("{")
        );
        // the error's own line (a wasm heap overflow ends in a stack trace)
        const error = new TextDecoder().decode(out.stderr)
          .split("\n").find((l) => l.startsWith("error:")) ?? "";
        const result = line
          ? JSON.parse(line)
          : { model, mode, error: `exit ${out.code}: ${error}` };
        results.push(result);
        console.error(JSON.stringify(result));
      }
    }
    const cpu = await cpuModelName();
    const md = [
      "# bench:lora",
      "",
      `\`deno task bench:lora\` on ${
        new Date().toISOString().slice(0, 10)
      }: ${cpu}, ${navigator.hardwareConcurrency} cores, Deno ${Deno.version.deno}.`,
      `One gradient step (ONNX Runtime forward and backward, 2 threads; AdamW on tfjs) of 4 rows × (64 prompt + 48 continuation) tokens, log-prob loss, random weights; LoRA r ${rank}, alpha ${
        2 * rank
      } on c_attn, c_proj, c_fc; each configuration alone in its own process (peak = its VmHWM); mean of ${steps} steps after a warm-up.`,
      "",
      "| model | mode | parameters | trained | step s | peak MiB |",
      "|---|---|---:|---:|---:|---:|",
      ...results.map((r) =>
        "error" in r
          ? `| ${r.model} | ${r.mode} | | | | ${r.error} |`
          : `| ${r.model} | ${r.mode} | ${(r.parameters / 1e6).toFixed(1)} M | ${
            (r.trained / 1e6).toFixed(2)
          } M | ${r.stepSeconds.toFixed(2)} | ${r.peakMiB.toFixed(0)} |`
      ),
      "",
      "A failed row is the configuration's own error: `memory access out of bounds` is tfjs-wasm's",
      "4 GiB heap (wasm32) overflowing with the weights, gradients and AdamW moments of a full",
      "fine-tuning; with LoRA only the adapters have gradients and moments.",
      "",
    ].join("\n");
    await writeFileAtomic("bench/results/lora.md", md);
    await writeJsonAtomic("bench/results/lora.json", { cpu, rank, steps, results });
    console.log(md);
  }
}

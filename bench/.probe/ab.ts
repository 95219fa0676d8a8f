import * as tf from "@tensorflow/tfjs-core";
import process from "node:process";
import { Rng } from "../../core/prng.ts";
import { initBackend } from "../../models/backend.ts";
import { createGPT2 } from "../../models/gpt2.ts";
import { AdamW } from "../../stages/adamw.ts";
await initBackend("wasm");
const rng = new Rng(0);
const m = createGPT2({ vocabSize: 8192, nEmbd: 256, nLayer: 4, nHead: 4, nPositions: 128 }, rng);
const opt = new AdamW(m.trainableVariables(), { learningRate: 1e-4 });
const rows = (n: number, l: number) => Array.from({ length: n }, () => Array.from({ length: l }, () => rng.int(8192)));
const out: number[] = [];
for (let i = 0; i < Number(Deno.args[0] ?? 3); i++) {
  const p = rows(16, 1), c = rows(16, 128);
  const c0 = process.cpuUsage();
  const { value, grads } = tf.variableGrads(() => tf.neg(tf.mean(m.forwardContinuation(p, c).logProbs)) as tf.Scalar, m.trainableVariables());
  opt.step(m.trainableVariables().map((v) => grads[v.name] ?? null));
  value.dataSync();
  tf.dispose([value, ...Object.values(grads)]);
  const u = process.cpuUsage(c0);
  if (i > 0) out.push((u.user + u.system) / 1e6);
}
console.log(Deno.args[1] ?? "", "cpu s per step:", out.map((x) => x.toFixed(2)).join(" "), "heap", ((tf.backend() as any).wasm.HEAPU8.length / 2 ** 20).toFixed(0));

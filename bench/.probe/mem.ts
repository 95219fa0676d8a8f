import * as tf from "@tensorflow/tfjs-core";
import { Rng } from "../../core/prng.ts";
import { initBackend } from "../../models/backend.ts";
import { createGPT2 } from "../../models/gpt2.ts";
await initBackend("wasm");
const rng = new Rng(0);
const m = createGPT2({ vocabSize: 8192, nEmbd: 256, nLayer: 4, nHead: 4, nPositions: 160 }, rng);
const rows = (n: number, l: number) => Array.from({ length: n }, () => Array.from({ length: l }, () => rng.int(8000)));
const p = rows(28, 64), c = rows(28, 48);
const info = await tf.profile(() => {
  const { value, grads } = tf.variableGrads(() => {
    const out = m.forwardContinuation(p, c, { entropy: true });
    return tf.add(tf.mean(out.logProbs), tf.mean(out.entropy!)) as tf.Scalar;
  }, m.trainableVariables());
  tf.dispose([value, ...Object.values(grads)]);
});
console.log("peak MiB", info.peakBytes / 2 ** 20, "new", info.newBytes / 2 ** 20);
const big = info.kernels.filter((k) => k.bytesAdded > 20e6).map((k) => `${k.name} ${(k.bytesAdded / 2 ** 20).toFixed(0)} ${JSON.stringify(k.outputShapes)}`);
console.log(big.join("\n"));
const byName: Record<string, number> = {};
for (const k of info.kernels) byName[k.name] = (byName[k.name] ?? 0) + (k.kernelTimeMs as number);
console.log(Object.entries(byName).sort((a, b) => b[1] - a[1]).slice(0, 15));
const added: Record<string, number> = {};
for (const k of info.kernels) added[k.name] = (added[k.name] ?? 0) + k.bytesAdded / 2 ** 20;
console.log(Object.entries(added).sort((a, b) => b[1] - a[1]).slice(0, 15).map(([a, b]) => `${a} ${b.toFixed(0)}`).join("; "));
let run = 0, peak = 0, at = "";
for (const k of info.kernels) { run += k.bytesAdded; if (run > peak) { peak = run; at = k.name + JSON.stringify(k.outputShapes); } }
console.log("running peak MiB", peak / 2 ** 20, at, "count", info.kernels.length);

import * as tf from "@tensorflow/tfjs-core";
import { Rng } from "../../core/prng.ts";
import { initBackend } from "../../models/backend.ts";
import { createGPT2 } from "../../models/gpt2.ts";
await initBackend("wasm");
const rng = new Rng(0);
const m = createGPT2({ vocabSize: 50257, nEmbd: 768, nLayer: 12, nHead: 12, nPositions: 1024 }, rng);
const rows = (n: number, l: number) => Array.from({ length: n }, () => Array.from({ length: l }, () => rng.int(8000)));
const p = rows(4, 1), c = rows(4, 112);
const heap = () => ((tf.backend() as any).wasm.HEAPU8.length / 2 ** 20).toFixed(0);
const live = () => (tf.memory().numBytes / 2 ** 20).toFixed(0);
console.log("start heap", heap(), "live", live());
const { value, grads } = tf.variableGrads(() => {
  const out = m.forwardContinuation(p, c, { entropy: true });
  console.log("after fwd1 heap", heap(), "live", live(), tf.memory().numTensors);
  const seen = new Set<object>();
  const byShape: Record<string, [number, number]> = {};
  const tape = (tf.engine() as any).state.activeTape as any[];
  const all: [tf.Tensor, string][] = [];
  for (const n of tape) { for (const t of n.saved ?? []) all.push([t, n.kernelName]); for (const t of n.outputs ?? []) all.push([t, n.kernelName + ":out"]); }
  for (const [t, kn] of all) {
    if (t.isDisposed || seen.has(t.dataId)) continue;
    seen.add(t.dataId);
    const k = kn + JSON.stringify(t.shape);
    byShape[k] ??= [0, 0];
    byShape[k][0]++; byShape[k][1] += t.size * 4 / 2 ** 20;
  }
  console.log(Object.entries(byShape).sort((a, b) => b[1][1] - a[1][1]).slice(0, 12).map(([k, [n, mb]]) => `${k} x${n} ${mb.toFixed(0)}MiB`).join("\n"));
  const out2 = { logProbs: tf.zeros([1, 1]) };
  console.log("after fwd2 heap", heap(), "live", live(), tf.memory().numTensors);
  return tf.add(tf.add(tf.mean(out.logProbs), tf.mean(out.entropy!)), tf.mean(out2.logProbs)) as tf.Scalar;
}, m.trainableVariables());
console.log("after bwd heap", heap(), "live", live());
tf.dispose([value, ...Object.values(grads)]);
console.log("end heap", heap(), "live", live());

import * as tf from "@tensorflow/tfjs-core";
import { Rng } from "../../core/prng.ts";
import { initBackend } from "../../models/backend.ts";
import { createGPT2 } from "../../models/gpt2.ts";
import { AdamW } from "../../stages/adamw.ts";
await initBackend("wasm");
const heap = () => ((tf.backend() as any).wasm.HEAPU8.length / 2 ** 20).toFixed(0) + " live " + (tf.memory().numBytes / 2 ** 20).toFixed(0);
const rng = new Rng(0);
const m = createGPT2({ vocabSize: 50257, nEmbd: 768, nLayer: 12, nHead: 12, nPositions: 1024 }, rng);
console.log("model", heap());
const opt = new AdamW(m.trainableVariables(), { learningRate: 1e-4 });
const rows = (n: number, l: number) => Array.from({ length: n }, () => Array.from({ length: l }, () => rng.int(50000)));
try {
  const { value, grads } = tf.variableGrads(() => {
    const out = m.forwardContinuation(rows(4, 1), rows(4, 112));
    console.log("fwd", heap());
    return tf.neg(tf.mean(out.logProbs)) as tf.Scalar;
  }, m.trainableVariables());
  console.log("bwd", heap());
  opt.step(m.trainableVariables().map((v) => grads[v.name] ?? null));
  console.log("adam", heap());
} catch (e) { console.log("fail", (e as Error).message, heap()); }

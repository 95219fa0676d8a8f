import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../../models/backend.ts";
await initBackend("wasm");
const a = tf.randomNormal([336, 256], 0, 1, "float32", 1), b = tf.randomNormal([256, 2048], 0, 1, "float32", 2);
const ref = await tf.matMul(a, b).data();
const refT = await tf.matMul(a, tf.transpose(tf.transpose(b)), false, false).data();
const keep: tf.Tensor[] = [];
for (let i = 0; i < 12; i++) { keep.push(tf.add(tf.zeros([25_000_000]), 1)); await keep[i].data(); }
console.log("heap", ((tf.backend() as any).wasm.HEAPU8.length / 2 ** 20).toFixed(0));
try {
  const out = await tf.matMul(a, b).data();
  let d = 0; for (let i = 0; i < out.length; i++) d = Math.max(d, Math.abs(out[i] - ref[i]));
  console.log("matMul high heap maxdiff", d);
  const out2 = await tf.matMul(tf.reshape(a, [1, 336, 256]), tf.reshape(b, [1, 256, 2048]), false, false).data();
  d = 0; for (let i = 0; i < out2.length; i++) d = Math.max(d, Math.abs(out2[i] - refT[i]));
  console.log("batched maxdiff", d);
  const e = await tf.sum(tf.exp(tf.mul(a, 0.1))).data(); console.log("exp/sum ok", e[0]);
} catch (e) { console.log("fail", (e as Error).message.slice(0, 120)); }

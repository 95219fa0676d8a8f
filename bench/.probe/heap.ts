import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../../models/backend.ts";
await initBackend("wasm");
const keep: tf.Tensor[] = [];
try {
  for (let i = 0; i < 40; i++) {
    keep.push(tf.add(tf.zeros([25_000_000]), 1));
    await keep[keep.length - 1].data();
    console.log(i, ((tf.backend() as any).wasm.HEAPU8.length / 2 ** 20).toFixed(0));
  }
} catch (e) { console.log("fail", (e as Error).message.slice(0, 80)); }

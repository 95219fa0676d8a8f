import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { Rng } from "../core/prng.ts";
import { initBackend } from "../models/backend.ts";
import { loadCausalLM } from "../models/checkpoint.ts";
import { createGPT2 } from "../models/gpt2.ts";
import { registerFastKernels, unregisterFastKernels } from "./register.ts";

const FIXTURE = new URL("../tests/fixtures/tiny-gpt2", import.meta.url).pathname;

interface RefCase {
  name: string;
  input_ids: number[][];
  attention_mask: number[][];
  logits_positions: number[];
  top_columns: (number[] | null)[][];
  top_logits: (number[] | null)[][];
}

Deno.test("with our kernels the GPT-2 fixture's logits match the PyTorch reference within 2e-4", async () => {
  await initBackend("wasm");
  const ref = JSON.parse(await Deno.readTextFile(`${FIXTURE}/reference.json`));
  const model = await loadCausalLM(FIXTURE);
  await registerFastKernels();
  try {
    for (const c of ref.cases as RefCase[]) {
      const logits = await model.logits(c.input_ids, c.attention_mask);
      let worst = 0;
      c.logits_positions.forEach((pos, p) => {
        c.input_ids.forEach((_, b) => {
          c.top_columns[b][p]?.forEach((col, j) => {
            worst = Math.max(worst, Math.abs(logits[b][pos][col] - c.top_logits[b][p]![j]));
          });
        });
      });
      assert.ok(worst < 2e-4, `${c.name}: max |logit - reference| = ${worst}`);
    }
  } finally {
    unregisterFastKernels();
    model.dispose();
  }
});

Deno.test("a GPT train step's gradients are the same with and without our kernels", async () => {
  await initBackend("wasm");
  const model = createGPT2(
    { vocabSize: 67, nEmbd: 16, nLayer: 2, nHead: 2, nPositions: 16 },
    new Rng(9),
  );
  const rng = new Rng(10);
  const rows = (n: number, l: number) =>
    Array.from({ length: n }, () => Array.from({ length: l }, () => rng.int(67)));
  const prompts = rows(3, 2);
  const continuations = rows(3, 7);
  const gradients = async () => {
    const before = tf.memory().numTensors;
    const variables = model.trainableVariables();
    const { value, grads } = tf.variableGrads(
      () =>
        tf.neg(tf.mean(model.forwardContinuation(prompts, continuations).logProbs)) as tf.Scalar,
      variables,
    );
    const flat = await Promise.all(variables.map((v) => grads[v.name].data<"float32">()));
    tf.dispose([value, ...Object.values(grads)]);
    assert.equal(tf.memory().numTensors, before, "tensors leaked");
    return flat;
  };
  try {
    const expected = await gradients();
    await registerFastKernels();
    const actual = await gradients();
    expected.forEach((e, i) => {
      for (let j = 0; j < e.length; j++) {
        assert.ok(
          Math.abs(actual[i][j] - e[j]) <= 1e-5 + 1e-3 * Math.abs(e[j]),
          `weight ${i}[${j}]`,
        );
      }
    });
  } finally {
    unregisterFastKernels();
    model.dispose();
  }
});

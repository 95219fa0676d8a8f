import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { Rng } from "../../core/prng.ts";
import { initBackend } from "../backend.ts";
import { createT5 } from "../t5.ts";
import { loadSeq2SeqLM } from "../t5_checkpoint.ts";
import type { T5Config } from "../t5_config.ts";
import type { ContinuationOutputs, Seq2SeqLM } from "../types.ts";
import { OnnxAcceleratedSeq2SeqLM } from "./accelerated.ts";
import { OnnxT5Engine } from "./t5_engine.ts";

await initBackend("wasm");

/**
 * A loss that reads every output with position-dependent weights, so no
 * gradient term hides; hidden states count at real positions only (what a
 * pad position holds is unspecified).
 */
function mixedLoss(out: ContinuationOutputs, continuations: number[][]): tf.Scalar {
  const [b, tc] = out.logProbs.shape;
  const valid = tf.tensor3d(
    continuations.flatMap((row) => Array.from({ length: tc }, (_, j) => (j < row.length ? 1 : 0))),
    [b, tc, 1],
  );
  const weights = tf.sin(
    tf.mul(tf.reshape(tf.range(0, out.logProbs.size), out.logProbs.shape), 0.7),
  );
  return tf.addN([
    tf.sum(tf.mul(out.logProbs, weights)),
    tf.sum(tf.mul(out.entropy!, tf.cos(weights))),
    tf.sum(tf.mul(tf.sin(tf.mul(out.hidden, 0.3)), valid)),
  ]) as tf.Scalar;
}

function gradients(model: Seq2SeqLM, variables: tf.Variable[], p: number[][], c: number[][]) {
  const { value, grads } = tf.variableGrads(
    () => mixedLoss(model.forwardContinuation(p, c, { entropy: true }), c),
    variables,
  );
  const loss = value.dataSync()[0];
  const byName = new Map(variables.map((v) => [v.name, grads[v.name].dataSync() as Float32Array]));
  tf.dispose([value, ...Object.values(grads)]);
  return { loss, byName };
}

/** Each weight's largest gradient difference relative to that gradient's largest entry. */
function assertClose(
  a: ReturnType<typeof gradients>,
  b: ReturnType<typeof gradients>,
  what: string,
) {
  assert.ok(
    Math.abs(a.loss - b.loss) < 1e-4 * (1 + Math.abs(a.loss)),
    `${what}: ${a.loss} vs ${b.loss}`,
  );
  for (const [name, expected] of a.byName) {
    const actual = b.byName.get(name)!;
    let diff = 0, scale = 0;
    expected.forEach((e, i) => {
      diff = Math.max(diff, Math.abs(e - actual[i]));
      scale = Math.max(scale, Math.abs(e));
    });
    if (scale === 0) continue; // e.g. buckets no relative position reaches
    assert.ok(diff <= 1e-4 * scale, `${what} ${name}: max diff ${diff} vs scale ${scale}`);
  }
}

const CASES: [string, number[][], number[][]][] = [
  ["one row, one token", [[3]], [[5]]],
  ["ragged prompts and continuations", [[1, 2, 3], [4, 5], [7, 8, 9, 10, 11]], [[5, 6, 7, 8], [9], [
    12,
    13,
    14,
  ]]],
  ["an empty continuation among others", [[2, 4], [6]], [[], [1, 2, 3, 4, 5, 6, 7]]],
];

const SHAPES: [string, Partial<T5Config>][] = [
  ["relu, tied head, 3 heads", { feedForwardProj: "relu", tieWordEmbeddings: true, numHeads: 3 }],
  ["gated-gelu, untied head, 1 head", {
    feedForwardProj: "gated-gelu",
    tieWordEmbeddings: false,
    numHeads: 1,
  }],
];

for (const [what, shape] of SHAPES) {
  Deno.test(`T5 engine gradients equal tfjs autograd on a random T5 (${what})`, async () => {
    const model = createT5({
      vocabSize: 29,
      dModel: 12,
      dKv: 4,
      dFf: 10,
      numLayers: 2,
      numDecoderLayers: 2,
      relativeAttentionNumBuckets: 8,
      relativeAttentionMaxDistance: 16,
      padTokenId: 0,
      eosTokenId: 1,
      decoderStartTokenId: 0,
      ...shape,
    }, new Rng(5).child("init"));
    const engine = await OnnxT5Engine.create(model.config);
    const fast = new OnnxAcceleratedSeq2SeqLM(model, engine);
    const variables = model.trainableVariables();
    const before = tf.memory().numTensors;
    for (const [name, prompts, continuations] of CASES) {
      assertClose(
        gradients(model, variables, prompts, continuations),
        gradients(fast, variables, prompts, continuations),
        name,
      );
    }
    assert.equal(tf.memory().numTensors, before, "tensors leaked");
    await engine.dispose();
    model.dispose();
  });
}

for (const name of ["tiny-t5", "tiny-t5-v1_1"]) {
  Deno.test(`T5 engine gradients equal tfjs autograd on the ${name} fixture`, async () => {
    const model = await loadSeq2SeqLM(
      new URL(`../../tests/fixtures/${name}`, import.meta.url).pathname,
    );
    const engine = await OnnxT5Engine.create(model.config);
    const fast = new OnnxAcceleratedSeq2SeqLM(model, engine);
    const rng = new Rng(8);
    const rows = (n: number, length: number) =>
      Array.from(
        { length: n },
        () => Array.from({ length }, () => rng.int(model.config.vocabSize)),
      );
    const prompts = [...rows(1, 5), ...rows(1, 9)];
    const continuations = [...rows(1, 6), ...rows(1, 3)];
    const variables = model.trainableVariables();
    assertClose(
      gradients(model, variables, prompts, continuations),
      gradients(fast, variables, prompts, continuations),
      name,
    );
    await engine.dispose();
    model.dispose();
  });
}

/**
 * Every algorithm with a seq2seq (T5) learner and a T5 guide, on the tfjs route
 * and on the engine: the prompt is the encoder input, roll-ins, restarts and
 * roll-outs act on the decoder, KL and values on decoder tokens.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { lastValueFrom, toArray } from "rxjs";
import { Rng } from "../core/prng.ts";
import { initBackend } from "../models/backend.ts";
import {
  loraGraphSpec,
  OnnxAcceleratedSeq2SeqLM,
  OnnxAcceleratedValueModel,
} from "../models/engine/mod.ts";
import { createLoraAdapters, T5_LORA_LAYOUT } from "../models/lora.ts";
import { t5WeightShapes } from "../models/t5_config.ts";
import { OnnxT5Engine } from "../models/engine/t5_engine.ts";
import { createT5 } from "../models/t5.ts";
import type { PolicyLM, TokenGenerator, ValueModel } from "../models/types.ts";
import { createValueModel } from "../models/value.ts";
import { type CompleteText, textGuide } from "../models/text_guide.ts";
import type { IterationMetrics } from "../pipelines/iteration.ts";
import { runAlgorithm } from "../pipelines/run_algorithm.ts";
import { createAlgorithmState, disposeAlgorithmState } from "../pipelines/state.ts";
import { toyDenseTask, toySparseTask, ToyTokenizer } from "../tasks/toy.ts";
import { toyOptions } from "./_toy_setup.ts";

await initBackend();

const TINY_T5 = {
  vocabSize: 16,
  dModel: 16,
  dKv: 8,
  numHeads: 2,
  dFf: 24,
  numLayers: 1,
  numDecoderLayers: 1,
  relativeAttentionNumBuckets: 8,
  relativeAttentionMaxDistance: 16,
  padTokenId: 0,
  eosTokenId: 0,
  decoderStartTokenId: 0,
};
const sparse = toySparseTask({ maxNewTokens: 3 });
// critic-free algorithms learn nothing where every sample of a group scores 0
const dense = toyDenseTask({ maxNewTokens: 3 });
const CRITIC_FREE = ["grpo", "rloo", "rebel", "grpo++"];

async function run(
  algorithm: string,
  engine: boolean,
  textApi?: CompleteText,
  lora = false,
  task = sparse,
) {
  const rng = new Rng(11);
  const base = createT5(TINY_T5, rng.child("learner"));
  const learner = lora
    ? base.withLora(
      createLoraAdapters(
        t5WeightShapes(base.config),
        { r: 4, alpha: 8, dropout: 0, targetModules: ["q", "v", "wo"] },
        rng.child("lora"),
        T5_LORA_LAYOUT,
      ),
    )
    : base;
  if (lora) base.dispose(); // the view holds the base now
  const frozen = learner.weights.get("decoder.block.0.layer.0.SelfAttention.q.weight")!
    .dataSync().slice();
  const guideModel = createT5({ ...TINY_T5, feedForwardProj: "gated-gelu" }, rng.child("guide"));
  const t5 = engine
    ? await OnnxT5Engine.create(
      learner.config,
      learner.lora ? { lora: loraGraphSpec(learner.lora) } : {},
    )
    : null;
  const guideEngine = engine
    ? await OnnxT5Engine.create(guideModel.config, { gradients: false })
    : null;
  const policy: PolicyLM = t5 ? new OnnxAcceleratedSeq2SeqLM(learner, t5) : learner;
  const guide: TokenGenerator = textApi
    ? textGuide(textApi, new ToyTokenizer())
    : guideEngine
    ? new OnnxAcceleratedSeq2SeqLM(guideModel, guideEngine)
    : guideModel;
  const critic = (seed: string): ValueModel => {
    const model = createValueModel(learner, rng.child(seed));
    return t5 ? new OnnxAcceleratedValueModel(model, t5) : model;
  };
  const options = toyOptions({ bc: { iterations: 2, batchSize: 8, learningRate: 1e-2 } });
  options.generation.eosTokenId = null;
  const before = learner.trainableVariables().map((v) => v.dataSync().slice());
  const state = createAlgorithmState({
    learner: policy,
    guide,
    critics: { learner: critic("critic"), guide: critic("guide-critic") },
    tokenizer: new ToyTokenizer(),
    records: await task.records("train"),
    reward: task.reward,
    rng: rng.child("run"),
  }, options);
  try {
    const metrics = await lastValueFrom(runAlgorithm(algorithm, state, options).pipe(toArray()));
    const moved = learner.trainableVariables().some((v, i) =>
      v.dataSync().some((x, j) => x !== before[i][j])
    );
    const baseMoved = learner.weights.get("decoder.block.0.layer.0.SelfAttention.q.weight")!
      .dataSync().some((x, j) => x !== frozen[j]);
    return { metrics: metrics as IterationMetrics[], moved, baseMoved };
  } finally {
    disposeAlgorithmState(state);
    guideModel.dispose();
    await t5?.dispose();
    await guideEngine?.dispose();
  }
}

const SEQ2SEQ_ALGORITHMS = [
  ...["ppo", "ppo++", "aggrevated", "lols", "d2lols", "bc", "bc+ppo++"],
  ...["grpo", "rloo", "rebel", "drpo", "grpo++"], // beyond the paper
];
for (const algorithm of SEQ2SEQ_ALGORITHMS) {
  Deno.test(`runAlgorithm("${algorithm}") trains a T5 learner with a T5 guide`, async () => {
    const tensors = tf.memory().numTensors;
    const task = CRITIC_FREE.includes(algorithm) ? dense : sparse;
    const { metrics, moved } = await run(algorithm, false, undefined, false, task);
    assert.equal(metrics.length, algorithm.startsWith("bc+") ? 4 : 2);
    for (const m of metrics) {
      const keys = m.phase === "bc"
        ? ["loss_nll"]
        : ["reward_mean", "kl", "loss_policy", "loss_value"];
      for (const key of keys) {
        const value = (m as unknown as Record<string, number>)[key];
        assert.ok(Number.isFinite(value), `${m.phase} ${key} = ${value}`);
      }
    }
    assert.ok(moved, "the learner's weights did not change");
    assert.equal(tf.memory().numTensors, tensors, "tensors leaked");
  });
}

Deno.test("D2LOLS trains a T5 learner with a T5 guide on the ONNX Runtime engine", async () => {
  const { metrics, moved } = await run("d2lols", true);
  assert.deepEqual(metrics.map((m) => m.iteration), [0, 1]);
  assert.ok(metrics.every((m) => Number.isFinite(m.loss_policy) && Number.isFinite(m.kl)));
  assert.ok(moved);
});

for (const engine of [false, true]) {
  Deno.test(`D2LOLS trains a LoRA T5 learner (${engine ? "engine" : "tfjs"}): the adapters move, the base does not`, async () => {
    const tensors = tf.memory().numTensors;
    const { metrics, moved, baseMoved } = await run("d2lols", engine, undefined, true);
    assert.deepEqual(metrics.map((m) => m.iteration), [0, 1]);
    assert.ok(metrics.every((m) => Number.isFinite(m.loss_policy) && Number.isFinite(m.kl)));
    assert.ok(moved, "the adapters did not change");
    assert.ok(!baseMoved, "the frozen base changed");
    assert.equal(tf.memory().numTensors, tensors, "tensors leaked");
  });
}

Deno.test("A text-API guide rolls in and out for a T5 learner (it sees prompt + prefix as text)", async () => {
  const seen: string[] = [];
  const api: CompleteText = (prompts, { maxNewTokens }) => {
    seen.push(...prompts);
    return Promise.resolve(prompts.map(() => "caf".slice(0, maxNewTokens)));
  };
  for (const algorithm of ["ppo++", "aggrevated"]) {
    const { metrics } = await run(algorithm, false, api);
    assert.ok(
      metrics.every((m) => Number.isFinite(m.loss_policy) && Number.isFinite(m.reward_mean)),
    );
  }
  // AggreVaTeD's guide roll-outs continue the learner's prefix: some requests are longer than a prompt
  const prompts = new Set((await sparse.records("train")).map((r) => r.prompt));
  assert.ok(seen.some((text) => !prompts.has(text)), "no roll-out request carried a prefix");
});

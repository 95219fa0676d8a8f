/**
 * Issue 18: the algorithms with a Llama-family learner on the engine (weights on tfjs, every
 * forward, backward and decode step on ONNX Runtime) and a critic on its own Llama trunk (the
 * value model every family uses, on the engine): the
 * learner and critic move, metrics are finite, tensors are freed.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { lastValueFrom, toArray } from "rxjs";
import { Rng } from "../core/prng.ts";
import { initBackend } from "../models/backend.ts";
import { OnnxLlamaEngine, OnnxLlamaLM } from "../models/engine/llama_engine.ts";
import { OnnxAcceleratedValueModel } from "../models/engine/accelerated.ts";
import { createValueModel } from "../models/value.ts";
import { llamaFromHost } from "../models/llama.ts";
import { llamaConfigFromHF, llamaWeightShapes } from "../models/llama_config.ts";
import type { IterationMetrics } from "../pipelines/iteration.ts";
import { runAlgorithm } from "../pipelines/run_algorithm.ts";
import { createAlgorithmState, disposeAlgorithmState } from "../pipelines/state.ts";
import { toyDenseTask, toySparseTask, ToyTokenizer } from "../tasks/toy.ts";
import { toyOptions } from "./_toy_setup.ts";

await initBackend();

const CONFIG = llamaConfigFromHF({
  model_type: "llama",
  vocab_size: 16,
  hidden_size: 16,
  intermediate_size: 32,
  num_hidden_layers: 1,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  max_position_embeddings: 32,
  bos_token_id: 0,
  eos_token_id: 0,
}, "test/config.json");

function randomLlama(rng: Rng) {
  const weights = new Map(
    [...llamaWeightShapes(CONFIG)].map(([name, shape]) => {
      const size = shape.reduce((a, b) => a * b, 1);
      const ones = name.endsWith("norm.weight");
      return [name, {
        shape,
        data: Float32Array.from({ length: size }, () => ones ? 1 : rng.normal() * 0.3),
      }];
    }),
  );
  return llamaFromHost(CONFIG, weights, "test/model.safetensors");
}

for (const algorithm of ["ppo", "d2lols", "grpo"]) {
  Deno.test(`runAlgorithm("${algorithm}") trains a Llama learner on the engine`, async () => {
    const tensors = tf.memory().numTensors;
    const rng = new Rng(5);
    const engine = await OnnxLlamaEngine.create(CONFIG);
    const learner = new OnnxLlamaLM(randomLlama(rng.child("learner")), engine);
    const guide = new OnnxLlamaLM(randomLlama(rng.child("guide")), engine);
    // critic-free GRPO learns nothing where every sample of a group scores 0
    const task = algorithm === "grpo"
      ? toyDenseTask({ maxNewTokens: 3 })
      : toySparseTask({ maxNewTokens: 3 });
    const options = toyOptions({});
    options.generation.eosTokenId = null;
    const before = learner.trainableVariables().map((v) => v.dataSync().slice());
    const state = createAlgorithmState({
      learner,
      guide,
      critics: {
        learner: new OnnxAcceleratedValueModel(
          createValueModel(learner.model, rng.child("critic")),
          engine,
        ),
        guide: new OnnxAcceleratedValueModel(
          createValueModel(learner.model, rng.child("guide-critic")),
          engine,
        ),
      },
      tokenizer: new ToyTokenizer(),
      records: await task.records("train"),
      reward: task.reward,
      rng: rng.child("run"),
    }, options);
    try {
      const metrics = (await lastValueFrom(
        runAlgorithm(algorithm, state, options).pipe(toArray()),
      )) as unknown as IterationMetrics[];
      assert.equal(metrics.length, options.iterations);
      for (const m of metrics) {
        for (const key of ["reward_mean", "kl", "loss_policy", "loss_value"] as const) {
          assert.ok(Number.isFinite(m[key]), `${m.phase} ${key} = ${m[key]}`);
        }
      }
      const moved = learner.trainableVariables().some((v, i) =>
        v.dataSync().some((x, j) => x !== before[i][j])
      );
      assert.ok(moved, "the learner's weights did not change");
    } finally {
      disposeAlgorithmState(state);
      guide.dispose();
      await engine.dispose();
    }
    assert.equal(tf.memory().numTensors - tensors, 0, "tensors leaked");
  });
}

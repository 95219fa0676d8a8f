/**
 * Issue 14: LoRA for T5 against PyTorch (tests/fixtures/tiny-t5-lora, made by its
 * make_reference.py with no code of ours; its T5 forward checked against tiny-t5's own
 * reference): PEFT's nn.Linear adapters (fan_in_fan_out false, keys `base_model.model.<path>`)
 * load, merge as W + s·B·A, and the merged model, the unmerged adapted model on tfjs and on the
 * engine give PyTorch's logits and log-probs; the engine's backward gives the adapters'
 * gradients alone, equal to tfjs's; PEFT's files round-trip; a GPT-2 adapter is refused.
 */
import assert from "node:assert/strict";
import { assertGradientsMatch, assertLogitColumns } from "./_test_asserts.ts";
import * as tf from "@tensorflow/tfjs-core";
import { Rng } from "../core/prng.ts";
import { initBackend } from "./backend.ts";
import {
  createLoraAdapters,
  GPT2_LORA_LAYOUT,
  loadLoraAdapters,
  mergeLoraWeights,
  saveLoraAdapters,
  T5_LORA_LAYOUT,
} from "./lora.ts";
import { readSafetensors } from "./safetensors.ts";
import { loadSeq2SeqLM } from "./t5_checkpoint.ts";
import { t5FromHost } from "./t5.ts";
import { t5WeightShapes } from "./t5_config.ts";
import { buildT5TrainingGraphs } from "./engine/t5_graphs.ts";
import { loraGraphSpec, onEngine, OnnxAcceleratedSeq2SeqLM, OnnxT5Engine } from "./engine/mod.ts";

await initBackend("wasm");

const base = new URL("../tests/fixtures/tiny-t5", import.meta.url).pathname;
const fixture = new URL("../tests/fixtures/tiny-t5-lora", import.meta.url).pathname;
const reference = JSON.parse(await Deno.readTextFile(`${fixture}/reference.json`));
const inputIds: number[] = reference.input_ids;
const decoderIds: number[] = reference.decoder_input_ids;
const labels: number[] = reference.labels;

const assertLogits = (rows: number[][], what: string) => assertLogitColumns(rows, reference, what);

function assertLogProbs(got: ArrayLike<number>, what: string) {
  (reference.target_logprobs as number[]).forEach((v, t) =>
    assert.ok(Math.abs(got[t] - v) <= 1e-4, `${what} log-prob ${t}: ${got[t]} vs ${v}`)
  );
}

Deno.test("T5 LoRA: PEFT adapters merge and run as PyTorch computes them, on tfjs", async () => {
  const start = tf.memory().numTensors;
  const model = await loadSeq2SeqLM(base);
  const shapes = t5WeightShapes(model.config);
  const { adapters, baseModel } = await loadLoraAdapters(fixture, shapes, T5_LORA_LAYOUT);
  assert.equal(baseModel, "tiny-t5");
  assert.deepEqual([...adapters.pairs.keys()].sort(), reference.adapted);
  const merged = await mergeLoraWeights(await model.toHost(), adapters);
  for (
    const [path, want] of Object.entries(reference.merged) as [string, {
      first: number[];
      sum: number;
    }][]
  ) {
    const got = merged.get(`${path}.weight`)!.data;
    want.first.forEach((v, i) => assert.ok(Math.abs(got[i] - v) <= 1e-5, `${path}[${i}]`));
    const sum = got.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - want.sum) <= 1e-5 * got.length, `${path} sum ${sum} vs ${want.sum}`);
  }
  const mergedModel = t5FromHost(model.config, merged, "merged");
  assertLogits((await mergedModel.logits([inputIds], [decoderIds]))[0], "merged model");
  const adapted = model.withLora(adapters);
  assertLogits((await adapted.logits([inputIds], [decoderIds]))[0], "adapted model (unmerged)");
  // the training forward (custom-gradient ops) computes the same log-probs
  const lp = tf.tidy(() => adapted.forwardContinuation([inputIds], [labels]).logProbs);
  assertLogProbs(await lp.data(), "training forward");
  lp.dispose();
  // saved, the adapted model is the merged one
  assert.deepEqual(
    [...(await adapted.mergedToHost()).get(reference.adapted[0] + ".weight")!.data],
    [...merged.get(reference.adapted[0] + ".weight")!.data],
  );
  mergedModel.dispose();
  adapted.dispose();
  model.dispose();
  assert.equal(tf.memory().numTensors, start, "tensors flat");
});

Deno.test("T5 LoRA: PEFT's files round-trip; a GPT-2 (Conv1D) adapter is refused", async () => {
  const model = await loadSeq2SeqLM(base);
  const shapes = t5WeightShapes(model.config);
  const { adapters } = await loadLoraAdapters(fixture, shapes, T5_LORA_LAYOUT);
  const dir = await Deno.makeTempDir({ prefix: "rlgf-t5-lora-" });
  try {
    await saveLoraAdapters(adapters, dir, "/abs/tiny-t5");
    const config = JSON.parse(await Deno.readTextFile(`${dir}/adapter_config.json`));
    assert.equal(config.task_type, "SEQ_2_SEQ_LM");
    assert.equal(config.fan_in_fan_out, false);
    assert.deepEqual(config.target_modules, ["q", "v", "wo"]);
    const written = await readSafetensors(`${dir}/adapter_model.safetensors`);
    const original = await readSafetensors(`${fixture}/adapter_model.safetensors`);
    assert.deepEqual([...written.keys()].sort(), [...original.keys()].sort());
    for (const [key, t] of original) assert.deepEqual(written.get(key)!.data, t.data, key);
    // the same file read as GPT-2's layout: its fan_in_fan_out says it is not
    await assert.rejects(
      loadLoraAdapters(dir, shapes, GPT2_LORA_LAYOUT),
      /adapter_config\.json: Field "fan_in_fan_out" is false; GPT-2's Conv1D adapters are saved with true/,
    );
    const gpt2Adapter = new URL("../tests/fixtures/tiny-gpt2-lora", import.meta.url).pathname;
    await assert.rejects(
      loadLoraAdapters(gpt2Adapter, shapes, T5_LORA_LAYOUT),
      /Field "fan_in_fan_out" is true; T5's nn\.Linear adapters are saved with false/,
    );
    assert.throws(
      () =>
        createLoraAdapters(
          shapes,
          {
            r: 2,
            alpha: 4,
            dropout: 0,
            targetModules: ["c_attn"],
          },
          new Rng(1),
          T5_LORA_LAYOUT,
        ),
      /\["c_attn"\] match no layer; T5's are q, k, v, o, wi \(wi_0, wi_1\), wo/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
    adapters.dispose();
    model.dispose();
  }
});

Deno.test("T5 LoRA on the engine: logits, scores, greedy as PyTorch and tfjs; plain model unchanged", async () => {
  const model = await loadSeq2SeqLM(base);
  const shapes = t5WeightShapes(model.config);
  const { adapters } = await loadLoraAdapters(fixture, shapes, T5_LORA_LAYOUT);
  const adapted = model.withLora(adapters);
  const engine = await OnnxT5Engine.create(model.config, {
    gradients: false,
    lora: loraGraphSpec(adapters),
  });
  try {
    const fast = onEngine(adapted, engine);
    assert.ok(fast instanceof OnnxAcceleratedSeq2SeqLM, "an adapted T5 runs on its engine");
    assertLogits((await fast.logits([inputIds], [decoderIds]))[0], "engine logits");
    assertLogProbs((await fast.continuationLogProbs([inputIds], [labels]))[0], "engine score");
    const greedy = { maxNewTokens: 6, eosTokenId: null };
    assert.deepEqual(
      await fast.generate([inputIds], greedy),
      await adapted.generate([inputIds], greedy),
    );
    // a model without adapters on the same engine runs with zero ones: its own logits
    const plain = await loadSeq2SeqLM(base);
    const [want] = await plain.logits([inputIds], [decoderIds]);
    const [got] = await onEngine(plain, engine).logits([inputIds], [decoderIds]);
    let worst = 0;
    got.forEach((row, t) =>
      row.forEach((v, j) => worst = Math.max(worst, Math.abs(v - want[t][j])))
    );
    assert.ok(worst <= 1e-4, `plain T5 on a LoRA engine: ${worst}`);
    plain.dispose();
    const bare = await OnnxT5Engine.create(model.config, { gradients: false });
    assert.equal(onEngine(adapted, bare), adapted, "an engine without LoRA inputs refuses it");
    await bare.dispose();
  } finally {
    await engine.dispose();
    adapted.dispose();
    model.dispose();
  }
});

Deno.test("T5 LoRA on the engine: the backward gives the adapters' gradients alone (= tfjs)", async () => {
  const model = await loadSeq2SeqLM(base);
  const adapters = createLoraAdapters(
    t5WeightShapes(model.config),
    {
      r: 4,
      alpha: 8,
      dropout: 0,
      targetModules: ["q", "v", "wi", "wo"],
    },
    new Rng(3),
    T5_LORA_LAYOUT,
  );
  // B away from zero, so A's gradient is not zero either
  for (const { b } of adapters.pairs.values()) {
    tf.tidy(() => b.assign(tf.randomNormal(b.shape, 0, 0.2, "float32", 5)));
  }
  const adapted = model.withLora(adapters);
  const spec = loraGraphSpec(adapters);
  const graphs = buildT5TrainingGraphs(model.config, { head: "lm", lora: spec });
  assert.ok(graphs.gradients.every((name) => name?.startsWith("grad.lora_")), "no base gradient");
  // encoder 2 × (q, v, wi, wo) + decoder 2 × (self q, v, cross q, v, wi, wo), A and B each
  assert.equal(graphs.gradients.length, 2 * (2 * 4 + 2 * 6));
  const engine = await OnnxT5Engine.create(model.config, { gradients: true, lora: spec });
  try {
    const fast = new OnnxAcceleratedSeq2SeqLM(adapted, engine);
    const prompts = [[464, 2068, 7586], [7454]];
    // one length: the states at a padded position are not defined alike on both sides
    const continuations = [[21831, 18045, 625], [2402, 257, 11]];
    const grads = (forward: typeof adapted.forwardContinuation) => {
      const { value, grads } = tf.variableGrads(() => {
        const out = forward(prompts, continuations, { entropy: true });
        const loss = tf.add(
          tf.sum(tf.mul(out.logProbs, tf.tensor2d([[0.3, -1, 0.5], [1.2, 0.7, -0.4]]))),
          tf.add(tf.sum(tf.mul(out.entropy!, 0.1)), tf.sum(tf.sin(out.hidden))),
        );
        return loss as tf.Scalar;
      }, adapted.trainableVariables());
      const out = adapted.trainableVariables().map((v) => grads[v.name].dataSync() as Float32Array);
      tf.dispose([value, ...Object.values(grads)]);
      return out;
    };
    const onTfjs = grads((p, c, o) => adapted.forwardContinuation(p, c, o));
    const onEngineGrads = grads((p, c, o) => fast.forwardContinuation(p, c, o));
    assert.equal(onTfjs.length, adapters.variables().length);
    assertGradientsMatch(onTfjs, onEngineGrads);
  } finally {
    await engine.dispose();
    adapted.dispose();
    model.dispose();
  }
});

/**
 * Issue 14: LoRA against PyTorch (tests/fixtures/tiny-gpt2-lora, made by its make_reference.py
 * with no code of ours): PEFT files load, the merged weights W + s·(B·A)ᵀ and the logits of the
 * merged model and of the unmerged adapted model agree; a save/load round trip; fresh adapters
 * leave the model unchanged and are all that trains; views share the frozen base and free it with
 * the last of them; bad adapter files are one-line errors.
 */
import assert from "node:assert/strict";
import { assertLogitColumns } from "./_test_asserts.ts";
import * as tf from "@tensorflow/tfjs-core";
import { Rng } from "../core/prng.ts";
import { initBackend } from "./backend.ts";
import { loadCausalLM } from "./checkpoint.ts";
import { gpt2FromHost, gpt2WeightShapes } from "./gpt2.ts";
import {
  createLoraAdapters,
  loadLoraAdapters,
  mergeLoraWeights,
  saveLoraAdapters,
} from "./lora.ts";
import { readSafetensors } from "./safetensors.ts";

await initBackend();

const base = new URL("../tests/fixtures/tiny-gpt2", import.meta.url).pathname;
const fixture = new URL("../tests/fixtures/tiny-gpt2-lora", import.meta.url).pathname;
const reference = JSON.parse(await Deno.readTextFile(`${fixture}/reference.json`));

const assertLogits = (rows: number[][], what: string) => assertLogitColumns(rows, reference, what);

Deno.test("LoRA: PEFT adapters merge and run as PyTorch computes them", async () => {
  const model = await loadCausalLM(base);
  const shapes = gpt2WeightShapes(model.config);
  const { adapters, baseModel } = await loadLoraAdapters(fixture, shapes);
  assert.equal(baseModel, "tiny-gpt2");
  assert.deepEqual([...adapters.pairs.keys()].sort(), reference.adapted);
  assert.equal(adapters.scale, reference.scale);
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
  const ids = [reference.input_ids as number[]];
  const mergedModel = gpt2FromHost(model.config, merged, "merged");
  assertLogits((await mergedModel.logits(ids))[0], "merged model");
  const adapted = model.withLora(adapters);
  assertLogits((await adapted.logits(ids))[0], "adapted model (unmerged)");
  // the training forward (custom-gradient ops) computes the same log-probs
  const lp = tf.tidy(() =>
    adapted.forwardContinuation([ids[0].slice(0, 1)], [ids[0].slice(1)]).logProbs
  );
  const logProbs = await lp.data();
  lp.dispose();
  (reference.next_token_logprobs as number[]).forEach((v, t) =>
    assert.ok(Math.abs(logProbs[t] - v) <= 1e-4, `log-prob ${t}: ${logProbs[t]} vs ${v}`)
  );
  mergedModel.dispose();
  adapted.dispose();
  model.dispose();
});

Deno.test("LoRA: save and load round-trip PEFT's files", async () => {
  const model = await loadCausalLM(base);
  const shapes = gpt2WeightShapes(model.config);
  const { adapters } = await loadLoraAdapters(fixture, shapes);
  const dir = await Deno.makeTempDir({ prefix: "rlgf-lora-" });
  try {
    await saveLoraAdapters(adapters, dir, "/abs/tiny-gpt2");
    const config = JSON.parse(await Deno.readTextFile(`${dir}/adapter_config.json`));
    assert.equal(config.peft_type, "LORA");
    assert.equal(config.fan_in_fan_out, true);
    assert.equal(config.base_model_name_or_path, "/abs/tiny-gpt2");
    assert.deepEqual(config.target_modules, ["c_attn", "c_proj"]);
    const written = await readSafetensors(`${dir}/adapter_model.safetensors`);
    const original = await readSafetensors(`${fixture}/adapter_model.safetensors`);
    assert.deepEqual([...written.keys()].sort(), [...original.keys()].sort());
    for (const [key, t] of original) assert.deepEqual(written.get(key)!.data, t.data, key);
    const again = await loadLoraAdapters(dir, shapes);
    again.adapters.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
    adapters.dispose();
    model.dispose();
  }
});

Deno.test("LoRA: fresh adapters change nothing, train alone, share the base and free it last", async () => {
  const start = tf.memory().numTensors;
  const model = await loadCausalLM(base);
  const ids = [reference.input_ids as number[]];
  const before = (await model.logits(ids))[0];
  const adapters = createLoraAdapters(gpt2WeightShapes(model.config), {
    r: 2,
    alpha: 4,
    dropout: 0,
    targetModules: ["c_attn", "mlp.c_proj"],
  }, new Rng(1));
  assert.deepEqual([...adapters.pairs.keys()], [
    "h.0.attn.c_attn",
    "h.0.mlp.c_proj",
    "h.1.attn.c_attn",
    "h.1.mlp.c_proj",
  ]);
  const learner = model.withLora(adapters);
  assert.deepEqual((await learner.logits(ids))[0], before); // B = 0: exactly the base
  assert.equal(learner.trainableVariables().length, 8);
  assert.ok(learner.trainableVariables().every((v) => adapters.variables().includes(v)));
  const bytes = tf.memory().numBytes;
  const frozen = learner.clone();
  const adapterBytes = adapters.variables().reduce((n, v) => n + v.size * 4, 0);
  assert.equal(tf.memory().numBytes - bytes, adapterBytes, "a clone costs its adapters only");
  assert.equal(frozen.weights, learner.weights, "the base is shared, not copied");
  assert.notEqual(
    frozen.lora!.pairs.get("h.0.attn.c_attn")!.a,
    adapters.pairs.get("h.0.attn.c_attn")!.a,
  );
  // a gradient step on the learner moves it and not the reference
  tf.tidy(() => {
    const { value, grads } = tf.variableGrads(() => {
      const out = learner.forwardContinuation([[464]], [[2068, 7586]]);
      out.hidden.dispose();
      return tf.neg(tf.sum(out.logProbs)) as tf.Scalar;
    }, learner.trainableVariables());
    assert.deepEqual(
      Object.keys(grads).sort(),
      learner.trainableVariables().map((v) => v.name).sort(),
    );
    for (const v of learner.trainableVariables()) v.assign(tf.sub(v, tf.mul(grads[v.name], 0.5)));
    value.dispose();
  });
  assert.notDeepEqual((await learner.logits(ids))[0], before);
  assert.deepEqual((await frozen.logits(ids))[0], before);
  // the base outlives any one reader
  model.dispose();
  learner.dispose();
  assert.deepEqual((await frozen.logits(ids))[0], before);
  frozen.dispose();
  assert.equal(tf.memory().numTensors, start);
});

Deno.test("LoRA: bad adapter files and configs are one-line errors naming what is wrong", async () => {
  const model = await loadCausalLM(base);
  const shapes = gpt2WeightShapes(model.config);
  const dir = await Deno.makeTempDir({ prefix: "rlgf-lora-bad-" });
  try {
    const config = JSON.parse(await Deno.readTextFile(`${fixture}/adapter_config.json`));
    await Deno.copyFile(`${fixture}/adapter_model.safetensors`, `${dir}/adapter_model.safetensors`);
    const write = (c: unknown) =>
      Deno.writeTextFile(`${dir}/adapter_config.json`, JSON.stringify(c));
    await write({ ...config, r: 8 });
    await assert.rejects(
      loadLoraAdapters(dir, shapes),
      /lora_A\.weight" has shape \[4,64\], expected \[8,64\]/,
    );
    await write({ ...config, peft_type: "IA3" });
    await assert.rejects(loadLoraAdapters(dir, shapes), /adapter_config\.json: Field "peft_type"/);
    await write({ ...config, lora_dropout: 0.1 });
    await assert.rejects(loadLoraAdapters(dir, shapes), /dropout.*only 0/);
    await assert.rejects(
      loadLoraAdapters(`${dir}/nope`, shapes),
      /nope\/adapter_config\.json: cannot read/,
    );
    assert.throws(
      () =>
        createLoraAdapters(
          shapes,
          { r: 2, alpha: 4, dropout: 0, targetModules: ["q_proj"] },
          new Rng(0),
        ),
      /lora\.targetModules.*match no layer/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
    model.dispose();
  }
});

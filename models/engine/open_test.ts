import assert from "node:assert/strict";
import { Rng } from "../../core/prng.ts";
import { initBackend } from "../backend.ts";
import { createGPT2, GPT2_DEFAULTS } from "../gpt2.ts";
import type { GPT2Config } from "../types.ts";
import { openEngine } from "./open.ts";
import { OnnxT5Engine } from "./t5_engine.ts";
import { createT5, T5_DEFAULTS } from "../t5.ts";
import { onEngine, OnnxAcceleratedLM, OnnxAcceleratedSeq2SeqLM } from "./accelerated.ts";

const SMALL: GPT2Config = {
  ...GPT2_DEFAULTS,
  vocabSize: 11,
  nPositions: 8,
  nEmbd: 8,
  nLayer: 1,
  nHead: 2,
};
// the engine builds gelu_new graphs only, so a relu model cannot load on it
const RELU: GPT2Config = { ...SMALL, activationFunction: "relu" };

Deno.test("openEngine: each mode opens what it names, and falls back only on auto", async () => {
  assert.equal(await openEngine(SMALL, "tfjs"), null);
  const training = await openEngine(SMALL, "onnx");
  assert.equal(training?.gradients, true);
  await training!.dispose();
  const rollouts = await openEngine(SMALL, "onnx-rollouts");
  assert.equal(rollouts?.gradients, false);
  await rollouts!.dispose();
  const evaluation = await openEngine(SMALL, "auto", { training: false });
  assert.equal(evaluation?.gradients, false);
  await evaluation!.dispose();

  const notes: string[] = [];
  assert.equal(await openEngine(RELU, "auto", { note: (m) => notes.push(m) }), null);
  assert.equal(notes.length, 1);
  assert.match(notes[0], /ONNX Runtime engine unavailable \(.*relu\); using tfjs/);
  await assert.rejects(() => openEngine(RELU, "onnx"), /implements gelu_new only/);
  await assert.rejects(() => openEngine(RELU, "onnx-rollouts"), /implements gelu_new only/);
});

const SMALL_T5 = {
  ...T5_DEFAULTS,
  vocabSize: 11,
  dModel: 8,
  dKv: 4,
  numHeads: 2,
  dFf: 8,
  numLayers: 1,
  numDecoderLayers: 1,
};

Deno.test("openEngine opens the T5 engine for a T5 config", async () => {
  const engine = await openEngine(SMALL_T5, "auto", { training: false });
  assert.ok(engine instanceof OnnxT5Engine);
  assert.equal(engine.gradients, false);
  await engine.dispose();
});

Deno.test("onEngine() wraps a model of the engine's family and config, and passes the rest through", async () => {
  await initBackend();
  const t5 = createT5(SMALL_T5, new Rng(0));
  const otherT5 = createT5({ ...t5.config, dFf: 32 }, new Rng(1));
  const gpt2 = createGPT2({ ...SMALL, bosTokenId: 0, eosTokenId: 0 }, new Rng(2));
  const t5Engine = (await openEngine(t5.config, "onnx-rollouts"))!;
  const gptEngine = (await openEngine(gpt2.config, "onnx-rollouts"))!;
  try {
    assert.ok(onEngine(t5, t5Engine) instanceof OnnxAcceleratedSeq2SeqLM);
    assert.ok(onEngine(gpt2, gptEngine) instanceof OnnxAcceleratedLM);
    // another family, another shape, no engine or no model: as given
    assert.equal(onEngine(gpt2, t5Engine), gpt2);
    assert.equal(onEngine(t5, gptEngine), t5);
    assert.equal(onEngine(otherT5, t5Engine), otherT5);
    assert.equal(onEngine(t5, null), t5);
    assert.equal(onEngine(null, t5Engine), null);
    assert.ok(t5Engine.accepts(t5.config) && !t5Engine.accepts(otherT5.config));
  } finally {
    await t5Engine.dispose();
    await gptEngine.dispose();
    for (const m of [t5, otherT5, gpt2]) m.dispose();
  }
});

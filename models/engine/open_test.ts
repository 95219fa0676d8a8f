import assert from "node:assert/strict";
import { GPT2_DEFAULTS } from "../gpt2.ts";
import type { GPT2Config } from "../types.ts";
import { openEngine } from "./open.ts";
import { OnnxT5Engine } from "./t5_engine.ts";
import { T5_DEFAULTS } from "../t5.ts";

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

Deno.test("openEngine opens the T5 engine for a T5 config", async () => {
  const config = {
    ...T5_DEFAULTS,
    vocabSize: 11,
    dModel: 8,
    dKv: 4,
    numHeads: 2,
    dFf: 8,
    numLayers: 1,
    numDecoderLayers: 1,
  };
  const engine = await openEngine(config, "auto", { training: false });
  assert.ok(engine instanceof OnnxT5Engine);
  assert.equal(engine.gradients, false);
  await engine.dispose();
});

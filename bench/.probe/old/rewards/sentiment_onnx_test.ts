import assert from "node:assert/strict";
import { findPositiveLabel, OnnxSentimentModel } from "./sentiment_onnx.ts";

const FIXTURE = new URL("../tests/fixtures/tiny-sentiment-onnx", import.meta.url).pathname;

interface Reference {
  sentences: { text: string; p_positive_torch_f64: number }[];
}

Deno.test("OnnxSentimentModel matches the fixture's PyTorch P(positive), single and batched", async () => {
  const reference: Reference = JSON.parse(await Deno.readTextFile(`${FIXTURE}/reference.json`));
  const model = await OnnxSentimentModel.load(FIXTURE, { batchSize: 4 });
  try {
    assert.equal(model.positiveLabel, "POSITIVE");
    const texts = reference.sentences.map((s) => s.text);
    // Batches of 4 then 2, right-padded inside transformers.js.
    const batched = await model.probabilities(texts);
    const single = await model.probabilities([texts[5]]);
    reference.sentences.forEach((s, i) => {
      assert.ok(Math.abs(batched[i] - s.p_positive_torch_f64) < 1e-5, `${s.text}: ${batched[i]}`);
    });
    assert.ok(Math.abs(single[0] - reference.sentences[5].p_positive_torch_f64) < 1e-5);
    // The reward scores prompt + generation as one text.
    const reward = await model.asReward()({
      prompts: ["I absolutely loved this movie,"],
      generations: [" it was wonderful!"],
    });
    assert.ok(Math.abs(reward[0] - reference.sentences[0].p_positive_torch_f64) < 1e-5);
  } finally {
    await model.dispose();
  }
});

Deno.test("findPositiveLabel() reads id2label, or says what to pass", () => {
  assert.equal(findPositiveLabel({ 0: "NEGATIVE", 1: "POSITIVE" }, undefined, "m"), "POSITIVE");
  assert.equal(findPositiveLabel({ 0: "neg", 1: "pos" }, undefined, "m"), "pos");
  assert.equal(findPositiveLabel({ 0: "LABEL_0", 1: "LABEL_1" }, undefined, "m"), "LABEL_1");
  assert.equal(findPositiveLabel({ 0: "bad", 1: "good" }, "good", "m"), "good");
  assert.throws(() => findPositiveLabel({ 0: "bad", 1: "good" }, undefined, "m"), {
    message:
      "m: Cannot tell the positive label from config.json id2label (bad, good): pass positiveLabel",
  });
  assert.throws(() => findPositiveLabel({ 0: "bad" }, "good", "m"), {
    message: 'm: Label "good" is not in config.json id2label (bad)',
  });
});

Deno.test("OnnxSentimentModel.load() names the folder when config.json is missing", async () => {
  await assert.rejects(() => OnnxSentimentModel.load("/nonexistent/model"), {
    name: "InputError",
    message: /^\/nonexistent\/model: Cannot read config\.json/,
  });
});

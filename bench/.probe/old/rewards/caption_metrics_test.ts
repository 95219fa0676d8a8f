import assert from "node:assert/strict";
import { bleu } from "./bleu.ts";
import { captionMetrics, type CaptionMetricsOptions } from "./caption_metrics.ts";
import { ciderD } from "./cider_d.ts";
import { meteor } from "./meteor.ts";
import { rougeL } from "./rouge_l.ts";

const batch = {
  prompts: ["", "", ""],
  generations: ["A dog runs in the field.", "Two cats sleep!", "A man rides a bike"],
  references: [
    ["A dog is running in a field.", "The dog runs."],
    ["Two cats are sleeping."],
    ["A man riding a bicycle.", "Someone rides a bike down the road."],
  ],
};
const cands = ["a dog runs in the field", "two cats sleep", "a man rides a bike"];
const refs = [
  ["a dog is running in a field", "the dog runs"],
  ["two cats are sleeping"],
  ["a man riding a bicycle", "someone rides a bike down the road"],
];

Deno.test("captionMetrics() reports each metric's corpus value on tokenised text", async () => {
  const m = await captionMetrics({ spice: null })(batch);
  bleu(cands, refs).corpus.forEach((v, k) => assert.equal(m[`lexical/bleu_${k + 1}`], v));
  assert.equal(m["lexical/meteor"], meteor(cands, refs).corpus);
  assert.equal(m["lexical/rouge_l"], rougeL(cands, refs).corpus);
  assert.equal(m["lexical/cider"], ciderD(cands, refs).corpus);
  assert.ok(!("lexical/spice" in m) && !("lexical/spider" in m));
});

Deno.test("captionMetrics() requires SPICE to be configured or explicitly off", async () => {
  assert.throws(() => captionMetrics({} as CaptionMetricsOptions), /spice/);
  await assert.rejects(
    () => captionMetrics({ spice: false })({ prompts: ["a"], generations: ["a"] }),
    /batch\.references/,
  );
});

import assert from "node:assert/strict";
import type { GPT2Config } from "../models/types.ts";
import {
  outputPerplexity,
  outputPerplexityMetric,
  type PerplexityModel,
  slidingWindowPerplexity,
} from "./perplexity.ts";

const config: GPT2Config = {
  vocabSize: 16,
  nPositions: 3,
  nEmbd: 4,
  nLayer: 1,
  nHead: 1,
  nInner: null,
  layerNormEpsilon: 1e-5,
  activationFunction: "gelu_new",
  initializerRange: 0.02,
  bosTokenId: 0,
  eosTokenId: 0,
  tieWordEmbeddings: true,
};

/** A fake LM: log p of a token = -0.5 × (tokens it is conditioned on); records its calls. */
function fakeModel(calls: number[][][] = []): PerplexityModel {
  return {
    config,
    continuationLogProbs(prompts, continuations) {
      calls.push(...prompts.map((p, r) => [p, continuations[r]]));
      return Promise.resolve(
        continuations.map((c, r) => c.map((_, t) => -0.5 * (prompts[r].length + t))),
      );
    },
  };
}

Deno.test("slidingWindowPerplexity() follows tril's windows and trg_len weighting", async () => {
  // L = 5, stride 2, maxLength 3 → windows [0,2) scoring 1; [1,4) scoring 2,3; [3,5) scoring 4.
  // Mean NLLs 0.5, (0.5 + 1) / 2, 0.5, weighted by trg_len 2, 2, 1: total 3 → exp(3 / 5).
  const calls: number[][][] = [];
  const ppl = await slidingWindowPerplexity([10, 11, 12, 13, 14], fakeModel(calls), { stride: 2 });
  assert.ok(Math.abs(ppl - Math.exp(3 / 5)) < 1e-12);
  assert.deepEqual(calls, [[[10], [11]], [[11], [12, 13]], [[13], [14]]]);
});

Deno.test("slidingWindowPerplexity() with one window is exp(total NLL / L)", async () => {
  // One window of 3: tokens 1 and 2 with NLL 0.5 and 1, mean 0.75, weighted by 3 → exp(0.75).
  const ppl = await slidingWindowPerplexity([1, 2, 3], fakeModel(), { stride: 3, batchSize: 1 });
  assert.ok(Math.abs(ppl - Math.exp(0.75)) < 1e-12);
});

Deno.test("slidingWindowPerplexity() rejects a stride past the window and too short a text", async () => {
  await assert.rejects(() => slidingWindowPerplexity([1, 2], fakeModel(), { stride: 4 }), /stride/);
  await assert.rejects(() => slidingWindowPerplexity([1], fakeModel()), /at least 2 tokens/);
});

Deno.test("outputPerplexity() joins generations with a blank line before tokenising", async () => {
  let seen = "";
  const tokenizer = {
    encode: (text: string) => {
      seen = text;
      return [1, 2, 3];
    },
  };
  const ppl = await outputPerplexity(["a", "b"], fakeModel(), tokenizer, { stride: 3 });
  assert.equal(seen, "a\n\nb");
  assert.ok(Math.abs(ppl - Math.exp(0.75)) < 1e-12);
  const metric = outputPerplexityMetric(fakeModel(), tokenizer, { stride: 3 });
  const m = await metric({ prompts: ["", ""], generations: ["a", "b"] });
  assert.ok(Math.abs(m["fluency/output_perplexity"] - Math.exp(0.75)) < 1e-12);
});

/**
 * The step graph's sampling heads (issue 13): whole-vocabulary sampling inside the graph draws
 * the tokens the host draws from the same graph's logits (softmax, then the running sum against
 * u · total; the graph's two-level sum can differ only within float rounding of a boundary,
 * which these seeds do not reach), and the graph's top-k gives the candidates the top-k session gives, for
 * GPT-2 and the Llama family, with EOS banned below min_new_tokens; T5's step graph samples as
 * the tfjs T5 does, with and without decoder prefixes.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { Rng } from "../../core/prng.ts";
import { initBackend } from "../backend.ts";
import { createGPT2 } from "../gpt2.ts";
import { loadLlama } from "../llama.ts";
import { OrtDecodeSession, type OrtStepGraph } from "../ort_decode_session.ts";
import { decodeRows } from "../sampling.ts";
import { OnnxGpt2Engine } from "./engine.ts";
import { OnnxLlamaEngine } from "./llama_engine.ts";
import { OnnxT5Engine } from "./t5_engine.ts";
import { OnnxAcceleratedSeq2SeqLM } from "./accelerated.ts";
import { loadSeq2SeqLM } from "../t5_checkpoint.ts";

await initBackend();

const LLAMA = new URL("../../tests/fixtures/tiny-llama", import.meta.url).pathname;
const T5 = new URL("../../tests/fixtures/tiny-t5", import.meta.url).pathname;

/**
 * Tokens drawn with the graph's sampling heads (the whole vocabulary, top-k 8), and from its
 * logits through the sampling sessions and the host, per seed.
 */
async function bothRoutes(graph: OrtStepGraph, eos: number, seeds: number) {
  assert.ok(graph.sample && graph.topKStep, "the step graph offers its sampling variants");
  const prompts = [[1, 2, 3, 4], [5, 6], [7], [8, 9, 10, 11, 12]];
  const logitsOnly: OrtStepGraph = { ...graph, sample: undefined, topKStep: undefined };
  for (let seed = 0; seed < seeds; seed++) {
    const options = (rng: Rng) => ({
      maxNewTokens: [12, 9, 12, 5],
      minNewTokens: [4, 4, 0, 2],
      doSample: true,
      topK: seed % 2 === 0 ? 0 : 8,
      temperature: 0.7 + 0.1 * (seed % 4),
      eosTokenId: eos,
      rng,
    });
    const inGraph = await decodeRows(
      new OrtDecodeSession(graph, prompts.length),
      prompts,
      options(new Rng(seed)),
    );
    const onHost = await decodeRows(
      new OrtDecodeSession(logitsOnly, prompts.length),
      prompts,
      options(new Rng(seed)),
    );
    assert.deepEqual(inGraph, onHost, `seed ${seed}`);
    // EOS never comes before a row's minimum
    inGraph.forEach((row, r) =>
      assert.ok(!row.slice(0, options(new Rng(0)).minNewTokens[r]).includes(eos), `row ${r}`)
    );
  }
}

// 40 tokens: one block of the head's running sum; 700: three, the last one partial
for (const vocabSize of [40, 700]) {
  Deno.test(`GPT-2 step graph (vocabulary ${vocabSize}): sampling in the graph draws what the host draws`, async () => {
    const model = createGPT2(
      { vocabSize, nPositions: 64, nEmbd: 16, nLayer: 2, nHead: 2 },
      new Rng(3),
    );
    const wte = model.weights.get("wte.weight")!;
    tf.tidy(() => wte.assign(tf.mul(wte, 4))); // peaked distributions: EOS comes, and is banned
    const engine = await OnnxGpt2Engine.create(model.config, { gradients: false });
    try {
      await bothRoutes(engine.stepGraph(model), model.config.eosTokenId, 12);
    } finally {
      await engine.dispose();
      model.dispose();
    }
  });
}

Deno.test("Llama step graph: sampling in the graph draws what the host draws from its logits", async () => {
  const model = await loadLlama(LLAMA);
  const engine = await OnnxLlamaEngine.create(model.config);
  try {
    await bothRoutes(engine.stepGraph(model), model.config.eosTokenId, 6);
  } finally {
    await engine.dispose();
    model.dispose();
  }
});

for (const topK of [0, 8]) {
  Deno.test(`T5 step graph (top-k ${topK}): the engine samples as the tfjs model, with and without decoder prefixes`, async () => {
    const model = await loadSeq2SeqLM(T5);
    const engine = await OnnxT5Engine.create(model.config, { gradients: false });
    const fast = new OnnxAcceleratedSeq2SeqLM(model, engine);
    const prompts = [[5, 6, 7, 8], [9, 10], [11, 12, 13]];
    try {
      for (const prefixes of [undefined, [[20, 21], [], [22]]]) {
        for (let seed = 0; seed < 4; seed++) {
          const options = (rng: Rng) => ({
            maxNewTokens: 8,
            minNewTokens: 3,
            doSample: true,
            topK,
            temperature: 0.8,
            eosTokenId: model.config.eosTokenId,
            rng,
            ...(prefixes ? { prefixes } : {}),
          });
          const onEngine = await fast.generate(prompts, options(new Rng(seed)));
          const onTfjs = await model.generate(prompts, options(new Rng(seed)));
          assert.deepEqual(onEngine, onTfjs, `seed ${seed}, prefixes ${JSON.stringify(prefixes)}`);
        }
      }
    } finally {
      await engine.dispose();
      model.dispose();
    }
  });
}

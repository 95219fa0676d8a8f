import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend.ts";
import { readSafetensors } from "../safetensors.ts";
import { t5ConfigFromHF, t5WeightShapes } from "../t5_config.ts";
import { OnnxT5Engine, type T5Weights } from "./t5_engine.ts";

await initBackend("wasm");
const TOL = 2e-4;

interface Case {
  name: string;
  input_ids: number[][];
  attention_mask: number[][];
  decoder_input_ids: number[][];
  decoder_attention_mask: number[][];
  labels: number[][];
  target_logprobs: (number | null)[][];
  logits: (number[] | null)[][];
}

/** A fixture's weights as tfjs variables keyed as t5WeightShapes names them. */
async function fixture(name: string) {
  const dir = new URL(`../../tests/fixtures/${name}`, import.meta.url).pathname;
  const config = t5ConfigFromHF(JSON.parse(await Deno.readTextFile(`${dir}/config.json`)));
  const tensors = await readSafetensors(`${dir}/model.safetensors`);
  const weights = new Map<string, tf.Variable>();
  for (const [key, shape] of t5WeightShapes(config)) {
    const t = tensors.get(key)!;
    weights.set(key, tf.variable(tf.tensor(t.data as Float32Array, shape), true, `${name}/${key}`));
  }
  const reference = JSON.parse(await Deno.readTextFile(`${dir}/reference.json`));
  const model: T5Weights = { config, weights };
  return { model, reference, dispose: () => weights.forEach((w) => w.dispose()) };
}

for (const name of ["tiny-t5", "tiny-t5-v1_1"]) {
  Deno.test(`OnnxT5Engine logits, log-probs and greedy ids equal the PyTorch reference (${name})`, async () => {
    const { model, reference, dispose } = await fixture(name);
    const engine = await OnnxT5Engine.create(model.config, { gradients: false });
    for (const c of reference.cases as Case[]) {
      const logits = await engine.logits(model, c.input_ids, c.decoder_input_ids, {
        attentionMask: c.attention_mask,
        decoderAttentionMask: c.decoder_attention_mask,
      });
      let worst = 0, rows = 0;
      c.logits.forEach((row, b) =>
        row.forEach((expected, t) => {
          if (expected === null) return; // a decoder pad row
          rows++;
          expected.forEach((v, j) => (worst = Math.max(worst, Math.abs(logits[b][t][j] - v))));
        })
      );
      assert.ok(rows > 0 && worst < TOL, `${c.name}: max |logit - reference| = ${worst}`);
      // the same rows through score(): prompts without padding, labels as continuations
      const prompts = c.input_ids.map((r, b) => r.filter((_, j) => c.attention_mask[b][j] === 1));
      const continuations = c.labels.map((r) => r.filter((id) => id !== -100));
      const scored = await engine.score(model, prompts, continuations);
      c.target_logprobs.forEach((row, b) =>
        row.forEach((expected, t) => {
          if (expected === null) return;
          const got = scored.logProbs[b][t];
          assert.ok(
            Math.abs(got - expected) < TOL,
            `${c.name} row ${b} t=${t}: ${got} vs ${expected}`,
          );
        })
      );
    }
    for (const g of reference.greedy) {
      const [ids] = await engine.generate(model, [g.input_ids], {
        maxNewTokens: g.max_new_tokens,
        doSample: false,
        eosTokenId: null,
      });
      assert.deepEqual(ids, g.new_ids);
      const [lp] = (await engine.score(model, [g.input_ids], [g.new_ids])).logProbs;
      lp.forEach((v, t) => assert.ok(Math.abs(v - g.new_token_logprobs[t]) < TOL, `greedy t=${t}`));
    }
    await engine.dispose();
    dispose();
  });
}

Deno.test("OnnxT5Engine: a right-padded batch scores and decodes as its rows alone", async () => {
  const { model, dispose } = await fixture("tiny-t5-v1_1");
  const engine = await OnnxT5Engine.create(model.config, { gradients: false });
  const prompts = [[464, 2068, 7586, 21831, 18045], [15496], [37573, 4673, 4981]];
  const continuations = [[9104, 293, 300], [4789], []];
  const together = await engine.score(model, prompts, continuations);
  const generated = await engine.generate(model, prompts, {
    maxNewTokens: 6,
    doSample: false,
    eosTokenId: null,
  });
  for (let i = 0; i < prompts.length; i++) {
    const alone = await engine.score(model, [prompts[i]], [continuations[i]]);
    alone.logProbs[0].forEach((v, t) => assert.ok(Math.abs(v - together.logProbs[i][t]) < 1e-4));
    const [ids] = await engine.generate(model, [prompts[i]], {
      maxNewTokens: 6,
      doSample: false,
      eosTokenId: null,
    });
    assert.deepEqual(generated[i], ids);
  }
  // beam search over the engine's session (parents reorder both caches)
  const beams = await engine.generate(model, prompts.slice(0, 2), {
    maxNewTokens: 4,
    numBeams: 3,
    doSample: false,
    eosTokenId: null,
  });
  assert.equal(beams.length, 2);
  await engine.dispose();
  dispose();
});

import assert from "node:assert/strict";
import { Rng } from "../core/prng.ts";
import { initBackend } from "./backend.ts";
import { createGPT2 } from "./gpt2.ts";
import { OnnxGpt2Engine } from "./engine/mod.ts";

await initBackend("wasm");

// Roll-outs restart rows at different depths: a long prompt with a small budget next to a short
// prompt with a large one. Left padding then makes the batch longer than the model's positions,
// though every row alone fits.
Deno.test("generate() fits rows whose padded batch outruns nPositions, as each row alone", async () => {
  const model = createGPT2(
    { vocabSize: 20, nPositions: 16, nEmbd: 16, nLayer: 1, nHead: 2, bosTokenId: 0, eosTokenId: 0 },
    new Rng(3),
  );
  const engine = await OnnxGpt2Engine.create(model.config);
  try {
    const prompts = [Array.from({ length: 12 }, (_, i) => 1 + i), [5, 6]];
    const options = { maxNewTokens: [1, 14], eosTokenId: null };
    const alone = [
      (await model.generate([prompts[0]], { ...options, maxNewTokens: 1 }))[0],
      (await model.generate([prompts[1]], { ...options, maxNewTokens: 14 }))[0],
    ];
    assert.deepEqual(await model.generate(prompts, options), alone);
    assert.deepEqual(await engine.generate(model, prompts, options), alone);
  } finally {
    model.dispose();
  }
});

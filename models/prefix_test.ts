import assert from "node:assert/strict";
import { Rng } from "../core/prng.ts";
import { initBackend } from "./backend.ts";
import { loadCausalLM } from "./checkpoint.ts";
import { OnnxAcceleratedLM, OnnxAcceleratedSeq2SeqLM, OnnxGpt2Engine } from "./engine/mod.ts";
import { OnnxT5Engine } from "./engine/t5_engine.ts";
import { loadSeq2SeqLM } from "./t5_checkpoint.ts";
import type { TokenGenerator } from "./types.ts";

await initBackend("wasm");
const fixture = (name: string) => new URL(`../tests/fixtures/${name}`, import.meta.url).pathname;

Deno.test("GPT-2: generating after a prefix is generating from prompt + prefix (both routes)", async () => {
  const model = await loadCausalLM(fixture("tiny-gpt2"));
  const engine = await OnnxGpt2Engine.create(model.config, { gradients: false });
  const prompts = [[15496, 11], [464], [40, 588, 257]];
  const prefixes = [[995], [], [3290, 318]];
  for (const policy of [model, new OnnxAcceleratedLM(model, engine)] as TokenGenerator[]) {
    const options = { maxNewTokens: 5, doSample: true, topK: 20, eosTokenId: null };
    const after = await policy.generate(prompts, { ...options, prefixes, rng: new Rng(4) });
    const joined = await policy.generate(prompts.map((p, i) => p.concat(prefixes[i])), {
      ...options,
      rng: new Rng(4),
    });
    assert.deepEqual(after, joined);
  }
  await engine.dispose();
  model.dispose();
});

for (const name of ["tiny-t5", "tiny-t5-v1_1"]) {
  Deno.test(`T5 (${name}): greedy decoding after a decoder prefix continues the reference, both routes`, async () => {
    const model = await loadSeq2SeqLM(fixture(name));
    const engine = await OnnxT5Engine.create(model.config, { gradients: false });
    const reference = JSON.parse(await Deno.readTextFile(`${fixture(name)}/reference.json`));
    const greedy = reference.greedy as { input_ids: number[]; new_ids: number[] }[];
    for (const policy of [model, new OnnxAcceleratedSeq2SeqLM(model, engine)]) {
      assert.equal(policy.seq2seq, true);
      // ragged prefixes in one batch: 0, 2 and 5 tokens of each reference's own greedy output
      const cut = [0, 2, 5];
      const rows = cut.map((k, i) => ({ g: greedy[i % greedy.length], k }));
      const out = await policy.generate(rows.map(({ g }) => g.input_ids), {
        maxNewTokens: 4,
        doSample: false,
        eosTokenId: null,
        prefixes: rows.map(({ g, k }) => g.new_ids.slice(0, k)),
      });
      rows.forEach(({ g, k }, i) =>
        assert.deepEqual(out[i], g.new_ids.slice(k, k + 4), `row ${i}`)
      );
      // beam search takes the prefixes too
      const beams = await policy.generate([greedy[0].input_ids], {
        maxNewTokens: 3,
        numBeams: 2,
        doSample: false,
        eosTokenId: null,
        prefixes: [greedy[0].new_ids.slice(0, 2)],
      });
      assert.equal(beams[0].length, 3);
    }
    await engine.dispose();
    model.dispose();
  });
}

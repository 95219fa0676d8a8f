import assert from "node:assert/strict";
import { textGuide } from "./text_guide.ts";
import type { Tokenizer } from "./types.ts";

// A word-level tokenizer: id 0 is EOS, each other id a word with its leading space.
const words = ["<eos>", "the", " film", " was", " great", " bad", " fun"];
const tokenizer: Tokenizer = {
  vocabSize: words.length,
  eosTokenId: 0,
  padTokenId: 0,
  encode: (text) => (text.match(/<eos>| ?[a-z]+/g) ?? []).map((w) => words.indexOf(w)),
  decode: (ids) => ids.map((i) => words[i]).join(""),
};

Deno.test("textGuide() re-tokenises the completion with the learner's tokenizer and truncates per row", async () => {
  const seen: string[][] = [];
  const guide = textGuide((prompts) => {
    seen.push(prompts);
    return Promise.resolve(prompts.map(() => " was great fun"));
  }, tokenizer);
  const out = await guide.generate([[1, 2], [1]], { maxNewTokens: [3, 2] });
  assert.deepEqual(seen, [["the film", "the"]]);
  assert.deepEqual(out, [[3, 4, 6], [3, 4]]);
});

Deno.test("textGuide() stops a row at EOS and rejects a wrong number of completions", async () => {
  const guide = textGuide((p) => Promise.resolve(p.map(() => " great<eos> bad")), tokenizer);
  assert.deepEqual(await guide.generate([[1]], { maxNewTokens: 5 }), [[4, 0]]);
  const broken = textGuide(() => Promise.resolve([]), tokenizer);
  await assert.rejects(
    () => broken.generate([[1]], { maxNewTokens: 2 }),
    /returned 0 completions for 1 prompts/,
  );
});

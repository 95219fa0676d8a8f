import assert from "node:assert/strict";
import { textGuide } from "./text_guide.ts";
import { wordTokenizer } from "../tests/_word_tokenizer.ts";

const tokenizer = wordTokenizer;

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

Deno.test("textGuide() continues after a restart prefix given apart from the input", async () => {
  const seen: string[][] = [];
  const guide = textGuide((prompts) => {
    seen.push(prompts);
    return Promise.resolve(prompts.map(() => " fun"));
  }, tokenizer);
  // the prefix " was" follows "the film"; only the new tokens come back
  const out = await guide.generate([[1, 2]], { maxNewTokens: 2, prefixes: [[3]] });
  assert.deepEqual(seen, [["the film was"]]);
  assert.deepEqual(out, [[6]]);
});

import assert from "node:assert/strict";
import { AutoTokenizer, env } from "@huggingface/transformers";
import { bpeEncode, preTokenize, saveBpeTokenizer, trainBpe } from "./bpe.ts";

const corpus = [
  "This movie was great, really great. I loved it!",
  "The film was terrible; the acting was bad and the plot worse.",
  "A great cast, a lovely story, and a great ending.",
  "I'd watch it again: 10/10 would recommend.",
  "Ünïcödé text and emoji 🎬 survive the byte-level round trip.",
];

Deno.test("trainBpe() merges the most frequent pair first and stops at the vocabulary size", () => {
  const model = trainBpe(["aaab aaab aaab ab"], { vocabSize: 260, minFrequency: 1 });
  // Words: "aaab" x3 (pairs aa, aa, ab), "Ġab" x1. "aa" occurs 6 times, the most.
  assert.deepEqual(model.merges[0], ["a", "a"]);
  assert.equal(model.vocab.size, 260);
  assert.equal(model.vocab.get("<|endoftext|>"), 259);
});

Deno.test("trainBpe() is deterministic", () => {
  const a = trainBpe(corpus, { vocabSize: 300, minFrequency: 1 });
  const b = trainBpe([...corpus], { vocabSize: 300, minFrequency: 1 });
  assert.deepEqual(a.merges, b.merges);
});

Deno.test("a saved BPE tokenizer loads in transformers.js and encodes as our reference encoder", async () => {
  const model = trainBpe(corpus, { vocabSize: 320, minFrequency: 1 });
  const dir = await Deno.makeTempDir();
  try {
    await saveBpeTokenizer(model, dir);
    env.allowRemoteModels = false;
    const tokenizer = await AutoTokenizer.from_pretrained(dir);
    for (const text of [...corpus, "unseen words: zebra quokka 42"]) {
      const ids = tokenizer.encode(text);
      assert.deepEqual(ids, bpeEncode(model, text), text);
      assert.equal(tokenizer.decode(ids), text);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("preTokenize() follows GPT-2's split (leading spaces stay with words)", () => {
  assert.deepEqual(preTokenize("I'd go"), ["I", "'d", "Ġgo"]);
});

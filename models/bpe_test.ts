import assert from "node:assert/strict";
import { AutoTokenizer, env } from "@huggingface/transformers";
import { bpeEncode, preTokenize, saveBpeTokenizer, trainBpe } from "./bpe.ts";
import { loadTokenizer } from "./tokenizer.ts";

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

Deno.test("trainBpe() with T5's special tokens: EOS, its own pad and sentinels, all special on load", async () => {
  const extra = ["<extra_id_0>", "<extra_id_1>"];
  const model = trainBpe(corpus, {
    vocabSize: 300,
    minFrequency: 1,
    eosToken: "</s>",
    padToken: "<pad>",
    extraTokens: extra,
  });
  assert.equal(model.vocab.size, 300);
  // the specials are the last ids, in order: EOS, pad, sentinels
  assert.deepEqual(["</s>", "<pad>", ...extra].map((t) => model.vocab.get(t)), [
    296,
    297,
    298,
    299,
  ]);
  assert.throws(
    () => trainBpe(corpus, { vocabSize: 300, padToken: "</s>", eosToken: "</s>" }),
    /special tokens must be distinct/,
  );
  assert.throws(() => trainBpe(corpus, { vocabSize: 258, extraTokens: extra }), />= 259/);
  const dir = await Deno.makeTempDir();
  try {
    await saveBpeTokenizer(model, dir);
    const tokenizer = await loadTokenizer(dir);
    assert.equal(tokenizer.eosTokenId, 296);
    assert.equal(tokenizer.padTokenId, 297);
    // a sentinel in text is one token, and decoding leaves every special out
    assert.deepEqual(tokenizer.encode("<extra_id_1>"), [299]);
    const ids = [...tokenizer.encode("a great cast"), 298, 296, 297];
    assert.equal(tokenizer.decode(ids), "a great cast");
    const config = JSON.parse(await Deno.readTextFile(`${dir}/tokenizer_config.json`));
    assert.deepEqual([config.eos_token, config.pad_token, config.additional_special_tokens], [
      "</s>",
      "<pad>",
      extra,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

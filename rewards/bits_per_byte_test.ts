import assert from "node:assert/strict";
import { bitsPerByte, type BitsPerByteModel, scoringWindows } from "./bits_per_byte.ts";

Deno.test("scoringWindows() scores every token after the first once, within the window", () => {
  const ids = Array.from({ length: 23 }, (_, i) => 100 + i);
  for (const [maxLength, stride] of [[8, 4], [8, 1], [8, 7], [30, 15]]) {
    const windows = scoringWindows(ids, maxLength, stride);
    const scored = windows.flatMap((w) => w.targets);
    assert.deepEqual(scored, ids.slice(1));
    for (const w of windows) {
      assert.ok(w.prompt.length >= 1 && w.prompt.length + w.targets.length <= maxLength);
      // the context is the tokens right before the targets
      const at = ids.indexOf(w.targets[0]);
      assert.deepEqual(w.prompt, ids.slice(at - w.prompt.length, at));
    }
  }
});

/** A model that gives every token probability 1/vocab. */
function uniform(vocab: number, maxLength: number, calls: number[][][]): BitsPerByteModel {
  return {
    config: { nPositions: maxLength } as BitsPerByteModel["config"],
    continuationLogProbs: (prompts: number[][], continuations: number[][]) => {
      // a batch is laid out as its longest prompt then its longest continuation
      const width = Math.max(...prompts.map((p) => p.length)) +
        Math.max(...continuations.map((c) => c.length));
      if (width > maxLength) {
        throw new RangeError(`Sequence of ${width} tokens exceeds ${maxLength}`);
      }
      calls.push(prompts.map((p, i) => [...p, ...continuations[i]]));
      return Promise.resolve(continuations.map((c) => c.map(() => -Math.log(vocab))));
    },
  };
}

Deno.test("bitsPerByte() of a uniform model is log2(vocab) x tokens / UTF-8 bytes", async () => {
  // one token per character: "é" is 2 bytes, so bytes and tokens differ
  const tokenizer = {
    eosTokenId: 0,
    encode: (text: string) => [...text].map((ch) => ch.codePointAt(0)! % 50 + 1),
  };
  const texts = ["a short review", "un film très réussi, vraiment", "x".repeat(40), "y".repeat(21)];
  const calls: number[][][] = [];
  const result = await bitsPerByte(texts, uniform(64, 16, calls), tokenizer, { batchSize: 3 });
  assert.ok(calls.some((call) => call.length === 3));
  const tokens = texts.reduce((n, t) => n + [...t].length, 0);
  const bytes = texts.reduce((n, t) => n + new TextEncoder().encode(t).length, 0);
  assert.deepEqual(result.tokens, tokens);
  assert.deepEqual(result.bytes, bytes);
  assert.ok(Math.abs(result.bitsPerByte - (6 * tokens) / bytes) < 1e-9);
  // no window is longer than the model's context, no call has more than batchSize rows
  for (const call of calls) {
    assert.ok(call.length <= 3);
    for (const row of call) assert(row.length <= 16);
  }
});

Deno.test("bitsPerByte() rejects an empty text and a non-finite NLL", async () => {
  const tokenizer = { eosTokenId: 0, encode: (t: string) => [...t].map(() => 1) };
  await assert.rejects(
    () => bitsPerByte(["ok", ""], uniform(4, 8, []), tokenizer),
    /text 1 is empty/,
  );
  const broken: BitsPerByteModel = {
    config: { nPositions: 8 } as BitsPerByteModel["config"],
    continuationLogProbs: (_p, c) => Promise.resolve(c.map((row) => row.map(() => NaN))),
  };
  await assert.rejects(() => bitsPerByte(["ok"], broken, tokenizer), /NaN/);
});

Deno.test("bitsPerByte() of tiny-gpt2 is the PyTorch reference's NLL, on tfjs and on the engine", async () => {
  const { initBackend } = await import("../models/backend.ts");
  const { loadCausalLM } = await import("../models/checkpoint.ts");
  const { onEngine, openEngine } = await import("../models/engine/mod.ts");
  const tf = await import("@tensorflow/tfjs-core");
  await initBackend();
  const dir = new URL("../tests/fixtures/tiny-gpt2", import.meta.url).pathname;
  const ref = JSON.parse(await Deno.readTextFile(`${dir}/reference.json`));
  const model = await loadCausalLM(dir);
  const engine = await openEngine(model.config, "auto", { training: false });
  try {
    for (const name of ["len32", "len100"]) {
      const c = ref.cases.find((x: { name: string }) => x.name === name);
      const ids: number[] = c.input_ids[0];
      // the first token stands in for the start-of-text context, the text is the rest
      const tokenizer = { eosTokenId: ids[0], encode: () => ids.slice(1) };
      const text = "é".repeat(50); // 100 UTF-8 bytes
      const expected = -c.sum_logprob[0] / Math.LN2 / 100;
      for (const scorer of [model, onEngine(model, engine)]) {
        const before = tf.memory().numTensors;
        // one window holds the whole sequence, as in the reference forward
        const got = await bitsPerByte([text], scorer, tokenizer, { maxLength: 128, stride: 64 });
        assert.equal(got.tokens, ids.length - 1);
        assert.equal(tf.memory().numTensors, before);
        assert.ok(
          Math.abs(got.bitsPerByte - expected) < 1e-4 * expected,
          `${name}: ${got.bitsPerByte} vs ${expected}`,
        );
      }
    }
  } finally {
    await engine?.dispose();
    model.dispose();
  }
});

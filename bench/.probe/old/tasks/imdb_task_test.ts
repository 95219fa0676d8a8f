import assert from "node:assert/strict";
import { createImdbTask, IMDB_GENERATION, imdbSplitIndices } from "./imdb_task.ts";
import { wordTokenizer } from "./_word_tokenizer.ts";

Deno.test("imdbSplitIndices() splits train 80/20 and picks a seeded test subset", () => {
  const a = imdbSplitIndices(25000, 25000);
  assert.equal(a.train.length, 20000);
  assert.equal(a.val.length, 5000);
  assert.equal(a.test.length, 5000);
  // Train and val partition the training reviews; test indices are distinct.
  const all = [...a.train, ...a.val].sort((x, y) => x - y);
  assert.deepEqual(all, [...Array(25000).keys()]);
  assert.equal(new Set(a.test).size, 5000);
  assert.deepEqual(imdbSplitIndices(25000, 25000, { seed: 42 }), a);
  assert.notDeepEqual(imdbSplitIndices(25000, 25000, { seed: 7 }).val, a.val);
  // Both labels are used: in the data, negatives are rows 0..12499 and positives 12500..24999.
  const positives = a.test.filter((i) => i >= 12500).length;
  assert.ok(positives > 2300 && positives < 2700, `${positives} positives of 5000`);
});

Deno.test("createImdbTask() builds prompt records from a data folder and injects the reward", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const line = (i: number) =>
      JSON.stringify({ text: `review ${i} has some words in it`, label: i % 2 });
    await Deno.writeTextFile(`${dir}/train.jsonl`, [...Array(10).keys()].map(line).join("\n"));
    await Deno.writeTextFile(`${dir}/test.jsonl`, [...Array(6).keys()].map(line).join("\n"));
    const task = createImdbTask({
      dataDir: dir,
      tokenizer: wordTokenizer(),
      reward: (batch) => Promise.resolve(batch.generations.map((g) => (g === "good" ? 1 : 0))),
      testSize: 4,
    });
    assert.deepEqual(task.generation, IMDB_GENERATION);
    const [train, val, test] = await Promise.all(
      (["train", "val", "test"] as const).map((s) => task.records(s)),
    );
    assert.deepEqual([train.length, val.length, test.length], [8, 2, 4]);
    // "review 3 has some words in it": 7 words, prompt = first 3.
    const r3 = [...train, ...val].find((r) => r.id === "train-4")!;
    assert.equal(r3.prompt, "review 3 has");
    assert.deepEqual(r3.references, [" some words in it"]);
    assert.deepEqual(r3.meta, { label: 1 });
    const metrics = await task.metrics({ prompts: ["a", "b"], generations: ["good", "bad"] });
    assert.deepEqual(metrics, { "sentiment/mean": 0.5 });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

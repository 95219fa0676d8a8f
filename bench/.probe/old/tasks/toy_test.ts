import assert from "node:assert/strict";
import { toyDenseTask, toyGuide, toySparseTask, ToyTokenizer } from "./toy.ts";

Deno.test("ToyTokenizer round-trips text and names a bad character", () => {
  const tok = new ToyTokenizer();
  assert.deepEqual(tok.encode(".abg"), [0, 1, 2, 7]);
  assert.equal(tok.decode([3, 1, 6]), "caf");
  assert.throws(() => tok.encode("abz"), /character "z" at 2 is not in the toy alphabet/);
});

Deno.test("toyDenseTask() rewards the share of the target character", async () => {
  const task = toyDenseTask();
  assert.deepEqual(
    await task.reward({ prompts: ["", "", ""], generations: ["aaba", "bbbb", ""] }),
    [0.75, 0, 0],
  );
  const train = await task.records("train");
  assert.equal(train.length, 64);
  assert.deepEqual(train, await toyDenseTask().records("train"));
  assert.notDeepEqual(train, await task.records("val"));
});

Deno.test("toySparseTask() rewards only generations that contain the sequence", async () => {
  const task = toySparseTask();
  assert.deepEqual(
    await task.reward({ prompts: ["", "", ""], generations: ["bcaf", "cabf", "cafe"] }),
    [1, 0, 1],
  );
  assert.deepEqual((await task.records("train"))[0].references, ["caf"]);
});

Deno.test("toyGuide() completes the sequence from any restart state", async () => {
  const tok = new ToyTokenizer();
  const guide = toyGuide("caf", tok);
  const out = await guide.generate(
    [tok.encode("bde"), tok.encode("bdec"), tok.encode("bdeca")],
    { maxNewTokens: [4, 2, 1] },
  );
  assert.deepEqual(out.map((ids) => tok.decode(ids)), ["cafc", "af", "f"]);
});

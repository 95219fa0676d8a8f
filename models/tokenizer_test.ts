import assert from "node:assert/strict";
import { loadTokenizer } from "./tokenizer.ts";

const FIXTURE = new URL("../tests/fixtures/tiny-gpt2", import.meta.url).pathname;
const ref = JSON.parse(await Deno.readTextFile(`${FIXTURE}/reference.json`));

Deno.test("loadTokenizer() encodes the reference prompts to the reference ids, offline", async () => {
  const tokenizer = await loadTokenizer(FIXTURE);
  for (const g of ref.greedy) {
    assert.deepEqual(tokenizer.encode(g.prompt), g.prompt_ids);
    assert.equal(tokenizer.decode(g.prompt_ids), g.prompt);
  }
  assert.equal(tokenizer.vocabSize, 50257);
  assert.equal(tokenizer.eosTokenId, 50256);
  // Special tokens are left out, as rewards should see generations; an empty row is "".
  assert.equal(
    tokenizer.decode([...ref.greedy[0].prompt_ids, tokenizer.eosTokenId]),
    ref.greedy[0].prompt,
  );
  assert.equal(tokenizer.decode([]), "");
});

Deno.test("loadTokenizer() names the folder when tokenizer.json is missing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(
      loadTokenizer(dir),
      (e: Error) => e.message === `${dir}: Missing tokenizer.json`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

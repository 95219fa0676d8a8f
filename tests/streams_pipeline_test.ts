/**
 * Issue 3: stages embedded in a plain Deno Web Streams pipeline, from a JSONL file
 * of prompts through roll-out and reward to a JSONL file of scored generations.
 */
import assert from "node:assert/strict";
import { jsonlParseStream, jsonlStringifyStream, lineStream } from "../core/streams.ts";
import { Rng } from "../core/prng.ts";
import { createGPT2 } from "../models/gpt2.ts";
import { generationStream, metricStream, rewardStream } from "../stages/text_rows.ts";
import { toyDenseTask, ToyTokenizer } from "../tasks/toy.ts";

const tokenizer = new ToyTokenizer();
const generation = {
  maxNewTokens: 5,
  minNewTokens: 0,
  topK: 0,
  topP: 1,
  temperature: 1,
  eosTokenId: null,
};

Deno.test("prompts.jsonl -> generation -> reward -> scored.jsonl, as the policy and reward compute alone", async () => {
  const dir = await Deno.makeTempDir();
  const model = createGPT2(
    {
      vocabSize: tokenizer.vocabSize,
      nPositions: 32,
      nEmbd: 16,
      nLayer: 1,
      nHead: 2,
      bosTokenId: 0,
      eosTokenId: 0,
    },
    new Rng(1),
  );
  const task = toyDenseTask();
  try {
    const prompts = ["abc", "dd", "gfe", "b", "cab"].map((prompt, i) => ({ id: i, prompt }));
    await Deno.writeTextFile(
      `${dir}/prompts.jsonl`,
      prompts.map((p) => JSON.stringify(p) + "\n").join(""),
    );

    const input = await Deno.open(`${dir}/prompts.jsonl`);
    const output = await Deno.create(`${dir}/scored.jsonl`);
    await input.readable
      .pipeThrough(new TextDecoderStream())
      .pipeThrough(lineStream())
      .pipeThrough(jsonlParseStream<{ id: number; prompt: string }>(`${dir}/prompts.jsonl`))
      .pipeThrough(
        generationStream(model, { tokenizer, generation, batchSize: 2, rng: new Rng(7) }),
      )
      .pipeThrough(rewardStream(task.reward, { batchSize: 3 }))
      .pipeThrough(jsonlStringifyStream())
      .pipeThrough(new TextEncoderStream())
      .pipeTo(output.writable);

    const scored = (await Deno.readTextFile(`${dir}/scored.jsonl`)).trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    assert.deepEqual(scored.map((r) => r.id), [0, 1, 2, 3, 4]);
    // Same draws as calling the model directly, batch by batch with the same streams.
    for (let batch = 0; batch < 3; batch++) {
      const rows = prompts.slice(2 * batch, 2 * batch + 2);
      const out = await model.generate(rows.map((r) => tokenizer.encode(r.prompt)), {
        ...generation,
        doSample: true,
        rng: new Rng(7).child(`batch-${batch}`),
      });
      rows.forEach((r, i) => assert.equal(scored[r.id].generation, tokenizer.decode(out[i])));
    }
    const rewards = await task.reward({
      prompts: scored.map((r) => r.prompt),
      generations: scored.map((r) => r.generation),
    });
    assert.deepEqual(scored.map((r) => r.reward), rewards);
    assert.ok(scored.every((r) => r.generation.length === 5));
  } finally {
    model.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("metricStream() emits one corpus result; a row without a prompt fails naming it", async () => {
  const task = toyDenseTask();
  const rows = [{ prompt: "a", generation: "aaaa" }, { prompt: "b", generation: "abcd" }];
  const [result] = await Array.fromAsync(
    ReadableStream.from(rows).pipeThrough(metricStream(task.metrics)),
  );
  assert.deepEqual(result, { reward_mean: (1 + 0.25) / 2 });

  const model = createGPT2(
    {
      vocabSize: tokenizer.vocabSize,
      nPositions: 16,
      nEmbd: 8,
      nLayer: 1,
      nHead: 2,
      bosTokenId: 0,
      eosTokenId: 0,
    },
    new Rng(2),
  );
  try {
    const bad = ReadableStream.from([
      { prompt: "a" },
      { text: "b" } as unknown as { prompt: string },
    ]);
    await assert.rejects(
      () =>
        Array.fromAsync(
          bad.pipeThrough(generationStream(model, { tokenizer, generation, rng: new Rng(1) })),
        ),
      /Row 1: field "prompt" must be a string/,
    );
  } finally {
    model.dispose();
  }
});

import assert from "node:assert/strict";
import { Rng } from "../core/prng.ts";
import { initBackend } from "../models/backend.ts";
import type { GPT2LM } from "../models/gpt2.ts";
import { resolveConfig, type RunConfig } from "./config.ts";
import { imdbSmallParts, positiveSentences } from "./imdb_small.ts";
import { tinyImdb } from "../tests/_tiny_data.ts";

await initBackend();

const TINY = new URL("../tests/fixtures/tiny-gpt2", import.meta.url).pathname;
/** The tiny IMDB folder and a private cache, for `fn`. */
async function withData(fn: (dataDir: string) => Promise<void>): Promise<void> {
  const env = await tinyImdb();
  try {
    await fn(env.dataDir);
  } finally {
    await env.cleanup();
  }
}

function config(dataDir: string, values: Record<string, unknown> = {}): RunConfig {
  return resolveConfig("imdb-small", [{
    source: "test",
    values: {
      task: { dataDir, evalRecords: 2 },
      policy: { source: "base", dir: TINY },
      guide: { bcSteps: 2 },
      engine: "tfjs",
      train: { maxPromptTokens: 16, generation: { maxNewTokens: 6, minNewTokens: 6 } },
      ...values,
    },
  }]);
}

const firstWeight = (model: unknown) =>
  Array.from((model as GPT2LM).trainableVariables()[0].dataSync().slice(0, 8));

Deno.test("imdbSmallParts() from a base folder: its tokenizer, a BC guide, held-out bits per byte", async () => {
  await withData(async (dataDir) => {
    const pretrained = { policy: { source: "base", dir: TINY, init: "pretrained" } };
    const parts = await imdbSmallParts(config(dataDir, pretrained), new Rng(0));
    try {
      assert.equal(parts.tokenizer.vocabSize, 50257);
      assert.equal(parts.baselines[0].name, "BC guide");
      assert.equal(parts.zeroShot, undefined); // the learner starts as the base
      assert.notDeepEqual(firstWeight(parts.guide), firstWeight(parts.learner));
      const own = await parts.policyMetrics!(parts.learner as GPT2LM);
      assert.ok(own["fluency/bits_per_byte"] > 0);
    } finally {
      parts.learner.dispose();
      for (const o of parts.owned) o.dispose();
    }
  });
});

Deno.test("imdbSmallParts() policy.init bc starts the learner from the BC guide, zero-shot stays the base", async () => {
  await withData(async (dataDir) => {
    const parts = await imdbSmallParts(
      config(dataDir, { policy: { source: "base", dir: TINY, init: "bc" } }),
      new Rng(0),
    );
    try {
      assert.deepEqual(firstWeight(parts.learner), firstWeight(parts.guide));
      assert.ok(parts.zeroShot);
      assert.notDeepEqual(firstWeight(parts.zeroShot), firstWeight(parts.learner));
    } finally {
      parts.learner.dispose();
      parts.zeroShot?.dispose();
      for (const o of parts.owned) o.dispose();
    }
    // a warm start needs the BC guide
    await assert.rejects(
      () =>
        imdbSmallParts(
          config(dataDir, {
            policy: { source: "base", dir: TINY, init: "bc" },
            guide: { kind: "none" },
          }),
          new Rng(0),
        ),
      /policy\.init/,
    );
    // no base model in the folder: a one-line error naming it
    await assert.rejects(
      () =>
        imdbSmallParts(config(dataDir, { policy: { source: "base", dir: dataDir } }), new Rng(0)),
      (error: Error) =>
        error.message.includes(dataDir) && error.message.includes("deno task pretrain"),
    );
  });
});

Deno.test("positiveSentences() keeps each review's sentences that score high enough, in order", () => {
  const score = (texts: string[]) => texts.map((t) => (/great|superb/i.test(t) ? 0.99 : 0.2));
  const kept = positiveSentences(
    [
      "The plot is thin. The cast is great! Would I go again? Superb.<br /><br />Boring ending.",
      "Nothing here. At all.",
      "A superb film",
    ],
    score,
    0.9,
  );
  assert.deepEqual(kept, ["The cast is great! Superb.", "A superb film"]);
});

import assert from "node:assert/strict";
import { Rng } from "../core/prng.ts";
import { initBackend } from "../models/backend.ts";
import type { GPT2LM } from "../models/gpt2.ts";
import { resolveConfig, type RunConfig } from "./config.ts";
import { imdbSmallParts } from "./imdb_small.ts";

await initBackend();

const TINY = new URL("../tests/fixtures/tiny-gpt2", import.meta.url).pathname;
const WORDS = ["great", "awful", "film", "plot", "acting", "loved", "boring", "story", "cast"];

/** A data folder with 20 train and 10 test reviews and a private cache, for `fn`. */
async function withData(fn: (dataDir: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "rlgf-imdb-small-" });
  const review = (i: number) => {
    const words = Array.from({ length: 12 }, (_, k) => WORDS[(i * 7 + k * 3) % WORDS.length]);
    return JSON.stringify({ text: `The ${words.join(" ")}.`, label: i % 2 }) + "\n";
  };
  await Deno.mkdir(`${root}/data/imdb`, { recursive: true });
  const rows = (n: number, from: number) => Array.from({ length: n }, (_, i) => review(i + from));
  await Deno.writeTextFile(`${root}/data/imdb/train.jsonl`, rows(20, 0).join(""));
  await Deno.writeTextFile(`${root}/data/imdb/test.jsonl`, rows(10, 100).join(""));
  const previous = Deno.env.get("RLGF_CACHE_DIR");
  Deno.env.set("RLGF_CACHE_DIR", `${root}/cache`);
  try {
    await fn(`${root}/data`);
  } finally {
    if (previous === undefined) Deno.env.delete("RLGF_CACHE_DIR");
    else Deno.env.set("RLGF_CACHE_DIR", previous);
    await Deno.remove(root, { recursive: true });
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

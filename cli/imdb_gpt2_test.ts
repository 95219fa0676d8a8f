import assert from "node:assert/strict";
import { ConfigError, InputError } from "../core/errors.ts";
import { Rng } from "../core/prng.ts";
import { initBackend } from "../models/backend.ts";
import { loadCausalLM } from "../models/checkpoint.ts";
import { GPT2LM } from "../models/gpt2.ts";
import { outputPerplexity } from "../rewards/perplexity.ts";
import { trainSentimentClassifier } from "../rewards/sentiment_classifier.ts";
import { resolveConfig, type RunConfig } from "./config.ts";
import { imdbGpt2Parts } from "./imdb_gpt2.ts";
import type { TaskParts } from "./setup.ts";
import { cacheRoot } from "./_cache.ts";
import { tinyImdb } from "../tests/_tiny_data.ts";

await initBackend();

const TINY = new URL("../tests/fixtures/tiny-gpt2", import.meta.url).pathname;
const TINY_ONNX = new URL("../tests/fixtures/tiny-gpt2-onnx", import.meta.url).pathname;
const SENTIMENT = new URL("../tests/fixtures/tiny-sentiment-onnx", import.meta.url).pathname;

const sentimentReference: { sentences: { text: string; p_positive_torch_f64: number }[] } = JSON
  .parse(await Deno.readTextFile(`${SENTIMENT}/reference.json`));
const greedyReference: { greedy: { prompt_ids: number[]; new_ids: number[] }[] } = JSON.parse(
  await Deno.readTextFile(`${TINY_ONNX}/greedy_reference.json`),
);

function config(dataDir: string, overrides: Record<string, unknown> = {}): RunConfig {
  return resolveConfig("imdb-gpt2", [
    {
      source: "test",
      values: {
        task: { dataDir, evalRecords: 4 },
        policy: { dir: TINY },
        reward: { kind: "onnx", path: SENTIMENT },
        guide: { kind: "none" },
        train: {
          maxPromptTokens: 16,
          generation: { maxNewTokens: 8, minNewTokens: 8 },
        },
      },
    },
    { source: "test overrides", values: overrides },
  ]);
}

async function withParts(cfg: RunConfig, check: (parts: TaskParts) => Promise<void>) {
  const parts = await imdbGpt2Parts(cfg, new Rng(cfg.seed));
  try {
    await check(parts);
  } finally {
    parts.learner.dispose();
    for (const o of parts.owned) o.dispose();
  }
}

Deno.test("imdbGpt2Parts() loads the GPT-2 folder, its tokenizer, the ONNX reward and the IMDB task", async () => {
  const env = await tinyImdb();
  try {
    await withParts(config(env.dataDir), async (parts) => {
      assert.ok(parts.learner instanceof GPT2LM);
      assert.equal(parts.learner.config.nEmbd, 64);
      assert.equal(parts.learner.config.vocabSize, 50257);
      // GPT-2's tokenizer from the folder: the fixture's ids.
      assert.deepEqual(parts.tokenizer.encode("The quick brown fox"), [464, 2068, 7586, 21831]);
      assert.equal(parts.guide, null);
      assert.deepEqual(parts.baselines, []);
      // The reward is the ONNX model's P(positive) of prompt + generation (PyTorch reference).
      const [score] = await parts.reward({
        prompts: ["I absolutely loved this movie,"],
        generations: [" it was wonderful!"],
      });
      assert.ok(Math.abs(score - sentimentReference.sentences[0].p_positive_torch_f64) < 1e-5);
      // The spec's split: 80/20 of train, test = the test reviews (fewer than 5000 here) but
      // the held-out fifth (bits per byte's, at most 1,000)
      assert.equal((await parts.task.records("train")).length, 16);
      assert.equal((await parts.task.records("val")).length, 4);
      assert.equal((await parts.task.records("test")).length, 8);
      assert.equal(parts.task.generation.maxNewTokens, 8);
      assert.equal(parts.task.generation.maxPromptTokens, 16);
    });
  } finally {
    await env.cleanup();
  }
});

Deno.test("imdbGpt2Parts() metrics: sentiment mean and perplexity under the untouched policy", async () => {
  const env = await tinyImdb();
  try {
    await withParts(config(env.dataDir), async (parts) => {
      const batch = {
        prompts: ["I absolutely loved this movie,", "The food was okay,"],
        generations: [" it was wonderful!", " nothing special."],
      };
      const metrics = await parts.task.metrics(batch);
      const expectedSentiment = (sentimentReference.sentences[0].p_positive_torch_f64 +
        sentimentReference.sentences[2].p_positive_torch_f64) / 2;
      assert.ok(Math.abs(metrics["sentiment/mean"] - expectedSentiment) < 1e-5);
      const fresh = await loadCausalLM(TINY);
      try {
        const expected = await outputPerplexity(batch.generations, fresh, parts.tokenizer);
        assert.ok(Math.abs(metrics["fluency/output_perplexity"] - expected) < 1e-6 * expected);
      } finally {
        fresh.dispose();
      }
    });
  } finally {
    await env.cleanup();
  }
});

Deno.test("imdbGpt2Parts() BC guide: a fine-tuned copy of the policy, cached and reused", async () => {
  const env = await tinyImdb();
  try {
    const cfg = config(env.dataDir, { guide: { kind: "bc", bcSteps: 1, bcLearningRate: 1e-2 } });
    let firstLogProbs: number[][] = [];
    await withParts(cfg, async (parts) => {
      assert.ok(parts.guide instanceof GPT2LM);
      assert.deepEqual(parts.baselines.map((b) => b.name), ["BC guide"]);
      const prompt = [[464, 2068, 7586, 21831]];
      const continuation = [[6291, 31684, 26958]];
      firstLogProbs = await parts.guide.continuationLogProbs(prompt, continuation);
      const policy = await (parts.learner as GPT2LM).continuationLogProbs(prompt, continuation);
      // Fine-tuning moved the weights away from the policy's.
      assert.ok(Math.abs(firstLogProbs[0][0] - policy[0][0]) > 1e-4);
    });
    const cached = [...Deno.readDirSync(`${cacheRoot()}/imdb-gpt2`)].map((e) => e.name);
    assert.equal(cached.length, 1);
    assert.match(cached[0], /^bc-guide-[0-9a-f]{8}$/);
    await withParts(cfg, async (parts) => {
      const again = await (parts.guide as GPT2LM).continuationLogProbs(
        [[464, 2068, 7586, 21831]],
        [[6291, 31684, 26958]],
      );
      assert.deepEqual(again, firstLogProbs);
    });
    assert.equal([...Deno.readDirSync(`${cacheRoot()}/imdb-gpt2`)].length, 1);
  } finally {
    await env.cleanup();
  }
});

Deno.test("imdbGpt2Parts() ONNX and folder guides share the policy's tokens", async () => {
  const env = await tinyImdb();
  try {
    const c = greedyReference.greedy[0];
    for (const guide of [{ kind: "onnx", dir: TINY_ONNX }, { kind: "dir", dir: TINY }]) {
      await withParts(config(env.dataDir, { guide }), async (parts) => {
        assert.ok(parts.guide);
        const [ids] = await parts.guide.generate([c.prompt_ids], { maxNewTokens: 6 });
        assert.deepEqual(ids, c.new_ids.slice(0, 6), guide.kind);
        assert.deepEqual(parts.baselines.map((b) => b.name), ["guide"]);
      });
    }
  } finally {
    await env.cleanup();
  }
});

Deno.test("imdbGpt2Parts() API guide re-tokenises a completions endpoint's text", async () => {
  const env = await tinyImdb();
  const seen: unknown[] = [];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, async (request) => {
    const body = await request.json();
    seen.push(body);
    return Response.json({
      choices: body.prompt.map((_: string, index: number) => ({ index, text: " great film" })),
    });
  });
  try {
    const url = `http://127.0.0.1:${server.addr.port}/v1/completions`;
    const cfg = config(env.dataDir, { guide: { kind: "api", apiUrl: url, apiModel: "m" } });
    await withParts(cfg, async (parts) => {
      const [ids] = await parts.guide!.generate([[464, 2068]], { maxNewTokens: 8 });
      assert.deepEqual(ids, parts.tokenizer.encode(" great film"));
      assert.equal((seen[0] as { model: string }).model, "m");
      assert.deepEqual((seen[0] as { prompt: string[] }).prompt, ["The quick"]);
    });
  } finally {
    await server.shutdown();
    await env.cleanup();
  }
});

Deno.test("imdbGpt2Parts() errors name policy.dir, reward.path and guide.dir", async () => {
  const env = await tinyImdb();
  try {
    const cfg = config(env.dataDir);
    const cases: [RunConfig, string, RegExp][] = [
      [{ ...cfg, policy: { ...cfg.policy, dir: null } }, "policy.dir", /must be set/],
      [{ ...cfg, policy: { ...cfg.policy, dir: `${env.dataDir}/nope` } }, "policy.dir", /nope/],
      [
        { ...cfg, reward: { ...cfg.reward, kind: "onnx", path: `${env.dataDir}/none` } },
        "reward.path",
        /none/,
      ],
      [
        { ...cfg, reward: { ...cfg.reward, kind: "classifier", path: null } },
        "reward.path",
        /classifier/,
      ],
      [{ ...cfg, guide: { ...cfg.guide, kind: "dir", dir: null } }, "guide.dir", /must be set/],
    ];
    for (const [bad, field, pattern] of cases) {
      await assert.rejects(imdbGpt2Parts(bad, new Rng(0)), (error: Error) => {
        assert.ok(error instanceof ConfigError, error.message);
        assert.equal(error.field, field);
        assert.match(error.message, pattern);
        return true;
      });
    }
    // A guide folder of another vocabulary cannot share the policy's tokens.
    const other = `${env.dataDir}/other-vocab`;
    await Deno.mkdir(other);
    const json = JSON.parse(await Deno.readTextFile(`${TINY}/config.json`));
    await Deno.writeTextFile(`${other}/config.json`, JSON.stringify({ ...json, vocab_size: 100 }));
    await assert.rejects(
      imdbGpt2Parts({ ...cfg, guide: { ...cfg.guide, kind: "dir", dir: other } }, new Rng(0)),
      (error: Error) => error instanceof InputError && /vocab_size 100/.test(error.message),
    );
  } finally {
    await env.cleanup();
  }
});

Deno.test("resolveConfig() of imdb-gpt2 without policy.dir names the field", () => {
  assert.throws(
    () => resolveConfig("imdb-gpt2", []),
    (error: Error) => error instanceof ConfigError && error.field === "policy.dir",
  );
});

Deno.test("imdbGpt2Parts() with reward.kind classifier scores with the saved classifier file", async () => {
  const env = await tinyImdb();
  try {
    const texts = ["good great fine", "great good", "awful bad", "bad boring awful", "fine good"];
    const classifier = trainSentimentClassifier(texts, [1, 1, 0, 0, 1], {
      buckets: 2 ** 10,
      minDf: 1,
      lambdas: [1e-2],
      maxIterations: 20,
    });
    const path = `${env.dataDir}/classifier.bin`;
    await classifier.save(path);
    const cfg = config(env.dataDir, { reward: { kind: "classifier", path } });
    await withParts(cfg, async (parts) => {
      const batch = { prompts: ["The plot was", "It was"], generations: [" good", " awful bad"] };
      assert.deepEqual(
        await parts.reward(batch),
        classifier.predict(["The plot was good", "It was awful bad"]),
      );
    });
  } finally {
    await env.cleanup();
  }
});

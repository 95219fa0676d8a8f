import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { Rng } from "../core/prng.ts";
import { initBackend } from "../models/backend.ts";
import { loadCausalLM } from "../models/checkpoint.ts";
import { savePolicy } from "../models/t5_checkpoint.ts";
import { outputPerplexity } from "../rewards/perplexity.ts";
import { OnnxSentimentModel } from "../rewards/sentiment_onnx.ts";
import type { CliIo } from "./cli_io.ts";
import { commonGenSmallParts } from "./commongen_small.ts";
import { resolveConfig } from "./config.ts";
import { type EvalResult, evaluate, formatTable, main } from "./eval.ts";
import { generate } from "./generate.ts";
import { privateCache, writeTinyImdb } from "../tests/_tiny_data.ts";

await initBackend();

const TINY = new URL("../tests/fixtures/tiny-gpt2", import.meta.url).pathname;
const SENTIMENT = new URL("../tests/fixtures/tiny-sentiment-onnx", import.meta.url).pathname;

function collector(): CliIo & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return { lines, errors, out: (l) => lines.push(l), err: (l) => errors.push(l) };
}

async function copyDir(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    if (entry.isFile) await Deno.copyFile(`${from}/${entry.name}`, `${to}/${entry.name}`);
  }
}

/** A temp root with tiny IMDB and CommonGen data and a private cache. */
async function workspace(): Promise<{ root: string; cleanup(): Promise<void> }> {
  const root = await Deno.makeTempDir({ prefix: "rlgf-eval-" });
  await writeTinyImdb(`${root}/data`, { test: 6 });
  const sets = [
    [["dog", "frisbee", "catch"], ["The dog catches a frisbee.", "A dog jumps to catch it."]],
    [["cat", "sofa", "sleep"], ["A cat sleeps on the sofa.", "The cat is asleep on a sofa."]],
    [["bike", "road", "ride"], ["A man rides a bike on the road.", "People ride bikes."]],
  ] as const;
  const rows = sets.flatMap(([concepts, targets], i) =>
    targets.map((target) => JSON.stringify({ concept_set_idx: i, concepts, target }) + "\n")
  ).join("");
  await Deno.mkdir(`${root}/data/commongen`, { recursive: true });
  for (const split of ["train", "validation", "test"]) {
    await Deno.writeTextFile(`${root}/data/commongen/${split}.jsonl`, rows);
  }
  const restore = privateCache(`${root}/cache`);
  return {
    root,
    async cleanup() {
      restore();
      await Deno.remove(root, { recursive: true });
    },
  };
}

/** A finished imdb-gpt2 "run": its config.json and the tiny GPT-2 as its policy. */
async function imdbRun(root: string): Promise<string> {
  const run = `${root}/run-imdb`;
  const config = resolveConfig("imdb-gpt2", [{
    source: "test",
    values: {
      task: { dataDir: `${root}/data`, evalRecords: 3 },
      policy: { dir: TINY },
      reward: { kind: "onnx", path: SENTIMENT },
      guide: { kind: "none" },
      engine: "tfjs",
      train: { maxPromptTokens: 16, generation: { maxNewTokens: 6, minNewTokens: 6 } },
    },
  }]);
  await Deno.mkdir(run, { recursive: true });
  await Deno.writeTextFile(`${run}/config.json`, JSON.stringify(config));
  await copyDir(TINY, `${run}/policy`);
  return run;
}

Deno.test("evaluate() of an IMDB run: sentiment and perplexity of its policy's generations, written atomically", async () => {
  const ws = await workspace();
  try {
    const run = await imdbRun(ws.root);
    const io = collector();
    const result = await evaluate(["--run", run], io) as EvalResult;
    assert.equal(result.records, 3);
    assert.equal(result.split, "val");
    assert.equal(result.policy, `${run}/policy`);
    // Each sample's reward is the ONNX model's P(positive) of prompt + generation.
    const sentiment = await OnnxSentimentModel.load(SENTIMENT);
    try {
      const p = await sentiment.probabilities(
        result.samples.map((s) => s.prompt + s.generation),
      );
      result.samples.forEach((s, i) => assert.ok(Math.abs(s.reward - p[i]) < 1e-6));
      const mean = p.reduce((a, b) => a + b, 0) / p.length;
      assert.ok(Math.abs(result.reward_mean - mean) < 1e-6);
      assert.ok(Math.abs(result.metrics["sentiment/mean"] - mean) < 1e-6);
    } finally {
      await sentiment.dispose();
    }
    // Perplexity under the zero-shot model (the run's policy.dir).
    const zeroShot = await loadCausalLM(TINY);
    try {
      const expected = await outputPerplexity(
        result.samples.map((s) => s.generation),
        zeroShot,
        zeroShot.tokenizer!,
      );
      assert.ok(Math.abs(result.metrics["fluency/output_perplexity"] - expected) < 1e-6 * expected);
    } finally {
      zeroShot.dispose();
    }
    const written = JSON.parse(await Deno.readTextFile(`${run}/eval-val.json`));
    assert.deepEqual(written, JSON.parse(JSON.stringify(result)));
    assert.ok(io.lines.some((l) => /^reward_mean\s+0\.\d{4}$/.test(l.split("\n")[1] ?? "")));
    // The test split has its own file.
    const test = await evaluate(["--run", run, "--split", "test", "--records", "2"], collector());
    assert.equal(test?.records, 2);
    assert.ok(await Deno.stat(`${run}/eval-test.json`));
  } finally {
    await ws.cleanup();
  }
});

Deno.test("evaluate() of a run says what it evaluates with, first, and uses the run's cache", async () => {
  const ws = await workspace();
  try {
    const run = await imdbRun(ws.root);
    await Deno.writeTextFile(`${run}/cache.json`, JSON.stringify({ cacheDir: `${ws.root}/c1` }));
    Deno.env.set("RLGF_CACHE_DIR", `${ws.root}/c2`); // not the run's
    const io = collector();
    await evaluate(["--run", run, "--records", "1", "--seed", "5"], io);
    assert.match(
      io.errors[0],
      new RegExp(
        `^eval: ${run}/policy with the run's settings: task imdb \\(preset imdb-gpt2\\), ` +
          `sampling top-k \\d+, top-p 1, temperature 1, up to 6 new tokens, seed 5 \\(--seed\\), ` +
          `engine tfjs; tokenizer, reward and zero-shot model from the run's cache ${ws.root}/c1, ` +
          `which is missing: they will be rebuilt there$`,
      ),
    );
    assert.equal(Deno.env.get("RLGF_CACHE_DIR"), `${ws.root}/c2`); // restored afterwards
  } finally {
    await ws.cleanup();
  }
});

Deno.test("evaluate() of a run without policy/ uses its last checkpoint's policy", async () => {
  const ws = await workspace();
  try {
    const run = await imdbRun(ws.root);
    await Deno.mkdir(`${run}/checkpoints/iter-000002`, { recursive: true });
    await Deno.rename(`${run}/policy`, `${run}/checkpoints/iter-000002/policy`);
    const io = collector();
    const result = await evaluate(["--run", run, "--records", "1"], io);
    assert.equal(result?.policy, `${run}/checkpoints/iter-000002/policy`);
    assert.ok(io.errors.some((l) => /policy is missing/.test(l)));
  } finally {
    await ws.cleanup();
  }
});

Deno.test("evaluate() of a CommonGen run: caption metrics, CIDEr-D reward agreeing with the metric", async () => {
  const ws = await workspace();
  try {
    const config = resolveConfig("commongen-small", [{
      source: "test",
      values: {
        task: { dataDir: `${ws.root}/data`, evalRecords: 3 },
        policy: {
          vocabSize: 280,
          nEmbd: 16,
          nLayer: 1,
          nHead: 2,
          nInner: 32,
          pretrainSteps: 2,
          pretrainBatchSize: 4,
          init: "pretrained",
        },
        guide: { kind: "none" },
        engine: "tfjs",
      },
    }]);
    const run = `${ws.root}/run-commongen`;
    const parts = await commonGenSmallParts(config, new Rng(config.seed));
    try {
      await savePolicy(parts.learner, `${run}/policy`);
    } finally {
      parts.learner.dispose();
    }
    // As the preset trains: the learner started from the BC guide. Evaluation builds neither.
    await Deno.writeTextFile(
      `${run}/config.json`,
      JSON.stringify({
        ...config,
        policy: { ...config.policy, init: "bc" },
        guide: { ...config.guide, kind: "bc" },
      }),
    );
    const result = await evaluate(["--run", run], collector()) as EvalResult;
    assert.equal(result.task, "commongen");
    // the run's evaluation decoding: 5 beams, as the paper decodes CommonGen
    assert.equal(result.decoding, "beam-5");
    assert.ok(!("lexical/spice" in result.metrics));
    assert.ok(result.metrics["lexical/coverage"] >= 0 && result.metrics["lexical/coverage"] <= 1);
    assert.ok(result.samples.every((s) => !s.generation.includes("<|endoftext|>")));
    for (const key of ["bleu_4", "meteor", "rouge_l", "cider"]) {
      assert.ok(Number.isFinite(result.metrics[`lexical/${key}`]), key);
    }
    // One chunk: the mean per-item CIDEr-D reward is the corpus CIDEr-D of the same set.
    assert.ok(Math.abs(result.reward_mean - result.metrics["lexical/cider"]) < 1e-9);
    // The same policy as a bare model folder: the task's defaults, nothing written.
    const bare = await evaluate([
      "--model",
      `${run}/policy`,
      "--task",
      "commongen",
      "--data",
      `${ws.root}/data`,
      "--records",
      "2",
      "--engine",
      "tfjs",
      "--bertscore",
      new URL("../tests/fixtures/tiny-bert-onnx", import.meta.url).pathname,
    ], collector());
    assert.equal(bare?.records, 2);
    assert.equal(bare?.decoding, "beam-5");
    // the task's own coverage, and with a BERT folder, BERTScore, join the metrics
    assert.ok(bare!.metrics["lexical/coverage"] >= 0);
    const f1 = bare!.metrics["semantic/bertscore_f1"];
    assert.ok(f1 >= -1 && f1 <= 1, String(f1));
    assert.ok(Math.abs(bare!.reward_mean - bare!.metrics["lexical/cider"]) < 1e-9);
    assert.deepEqual(
      [...Deno.readDirSync(`${run}/policy`)].filter((e) => /^eval-/.test(e.name)),
      [],
    );
  } finally {
    await ws.cleanup();
  }
});

Deno.test("evaluate() of a model folder on IMDB prints the table, writes nothing, frees its models", async () => {
  const ws = await workspace();
  const tensors = tf.memory().numTensors;
  try {
    const io = collector();
    const result = await evaluate([
      "--model",
      TINY,
      "--task",
      "imdb",
      "--data",
      `${ws.root}/data`,
      "--reward",
      SENTIMENT,
      "--reference",
      TINY,
      "--records",
      "2",
      "--engine",
      "tfjs",
    ], io);
    assert.equal(result?.records, 2);
    assert.equal(result?.samples[0].generation.length > 0, true);
    assert.ok("fluency/output_perplexity" in result!.metrics);
    // the model's own held-out bits per byte (one held-out review of six here), and GRUE's stats
    const bits = result!.metrics["fluency/bits_per_byte"];
    assert.ok(bits > 0 && bits < 20, `bits per byte ${bits}`);
    assert.ok("diversity/distinct-2" in result!.metrics && "sentiment/hard" in result!.metrics);
    assert.match(io.lines.join("\n"), /sentiment\/mean\s+0\.\d{4}/);
    assert.deepEqual([...Deno.readDirSync(TINY)].filter((e) => e.name.startsWith("eval-")), []);
    // Greedy evaluation generates what `deno task generate` prints for the same prompt.
    const greedy = await evaluate([
      "--model",
      TINY,
      "--task",
      "imdb",
      "--data",
      `${ws.root}/data`,
      "--reward",
      SENTIMENT,
      "--records",
      "1",
      "--engine",
      "tfjs",
      "--greedy",
    ], collector());
    assert.equal(greedy?.decoding, "greedy");
    const prompt = greedy!.samples[0].prompt;
    const printed = await generate(
      ["--model", TINY, "--max-new-tokens", "48", "--min-new-tokens", "48", prompt],
      collector(),
    );
    assert.equal(greedy!.samples[0].generation, printed![0].completion);
    assert.equal(tf.memory().numTensors, tensors);
  } finally {
    await ws.cleanup();
  }
});

Deno.test("main() of eval gives a one-line error naming the bad input and exit code 1", async () => {
  const ws = await workspace();
  try {
    const cases: [string[], RegExp][] = [
      [["--run", ws.root, "--bogus"], /--bogus/],
      [["--run", `${ws.root}/missing`], /missing: run folder not found/],
      [["--run", ws.root], /config\.json: cannot read the run's config/],
      [["--model", `${ws.root}/no-model`, "--task", "imdb"], /no-model: model folder not found/],
      [["--model", TINY, "--task", "wikitext"], /--task.*unknown task "wikitext"/],
      [["--model", TINY], /--task/],
      [["--model", TINY, "--task", "imdb", "--data", `${ws.root}/data`], /--reward/],
      [["--model", TINY, "--task", "imdb", "--reward", `${ws.root}/nothing`], /nothing/],
      [["--run", ws.root, "--model", TINY], /exactly one of --run/],
      [["--model", TINY, "--task", "imdb", "--split", "dev"], /--split.*"dev"/],
      [["--model", TINY, "--task", "commongen", "--reward", SENTIMENT], /--reward.*IMDB/],
      [["--model", TINY, "--task", "commongen", "--reference", TINY], /--reference.*IMDB/],
    ];
    for (const [argv, pattern] of cases) {
      const io = collector();
      assert.equal(await main(argv, io), 1, argv.join(" "));
      assert.equal(io.errors.length, 1, io.errors.join("\n"));
      assert.match(io.errors[0], /^error: /);
      assert.match(io.errors[0], pattern);
    }
  } finally {
    await ws.cleanup();
  }
});

Deno.test("formatTable() aligns names and prints 4 decimals", () => {
  assert.equal(
    formatTable([["reward_mean", 0.5], ["lexical/cider", 1.23456], ["n", 3]]),
    "metric         value\nreward_mean    0.5000\nlexical/cider  1.2346\nn              3",
  );
});

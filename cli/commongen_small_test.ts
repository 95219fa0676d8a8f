import assert from "node:assert/strict";
import { ConfigError } from "../core/errors.ts";
import { Rng } from "../core/prng.ts";
import { initBackend } from "../models/backend.ts";
import { GPT2LM } from "../models/gpt2.ts";
import type { Tokenizer } from "../models/types.ts";
import { commonGenDataDir, commonGenPairs, commonGenSmallParts } from "./commongen_small.ts";
import { resolveConfig, type RunConfig } from "./config.ts";
import { cacheRoot } from "./_cache.ts";

await initBackend();

const SETS: [string[], string[]][] = [
  [["ski", "mountain", "skier"], ["A skier skis down the mountain.", "Skiers on a mountain."]],
  [["dog", "frisbee", "catch"], ["The dog catches a frisbee.", "A dog jumps to catch it."]],
  [["cat", "sofa", "sleep"], ["A cat sleeps on the sofa.", "The cat is asleep on a sofa."]],
  [["bike", "road", "ride"], ["A man rides a bike on the road.", "People ride bikes."]],
  [["ball", "kick", "field"], ["A boy kicks a ball on the field.", "Kids kick the ball."]],
  [["tree", "climb", "boy"], ["A boy climbs a tree.", "The boy is climbing the tree."]],
];

function jsonl(sets: [string[], string[]][], offset: number): string {
  return sets.flatMap(([concepts, targets], i) =>
    targets.map((target) =>
      JSON.stringify({ concept_set_idx: offset + i, concepts, target }) + "\n"
    )
  ).join("");
}

/** A data folder (6 train, 2 validation, 2 test concept sets) and a private cache folder. */
async function tinyCommonGen(): Promise<{ dataDir: string; cleanup(): Promise<void> }> {
  const root = await Deno.makeTempDir({ prefix: "rlgf-commongen-small-" });
  await Deno.mkdir(`${root}/data/commongen`, { recursive: true });
  await Deno.writeTextFile(`${root}/data/commongen/train.jsonl`, jsonl(SETS, 0));
  await Deno.writeTextFile(`${root}/data/commongen/validation.jsonl`, jsonl(SETS.slice(0, 2), 100));
  await Deno.writeTextFile(`${root}/data/commongen/test.jsonl`, jsonl(SETS.slice(2, 4), 200));
  const previous = Deno.env.get("RLGF_CACHE_DIR");
  Deno.env.set("RLGF_CACHE_DIR", `${root}/cache`);
  return {
    dataDir: `${root}/data`,
    async cleanup() {
      if (previous === undefined) Deno.env.delete("RLGF_CACHE_DIR");
      else Deno.env.set("RLGF_CACHE_DIR", previous);
      await Deno.remove(root, { recursive: true });
    },
  };
}

function tinyConfig(dataDir: string): RunConfig {
  return resolveConfig("commongen-small", [{
    source: "test",
    values: {
      task: { dataDir },
      policy: {
        vocabSize: 300,
        nEmbd: 16,
        nLayer: 1,
        nHead: 2,
        nPositions: 64,
        pretrainSteps: 3,
        pretrainBatchSize: 4,
      },
      guide: { bcSteps: 3, bcLearningRate: 1e-2 },
    },
  }]);
}

Deno.test("commonGenSmallParts() builds tokenizer, pretrained GPT, BC guide, CIDEr-D reward and caches them", async () => {
  const env = await tinyCommonGen();
  try {
    const config = tinyConfig(env.dataDir);
    const parts = await commonGenSmallParts(config, new Rng(0));
    let guideLogProbs: number[][];
    const prompt = parts.tokenizer.encode("generate a sentence with: dog frisbee catch.");
    const target = parts.tokenizer.encode(" The dog catches a frisbee.");
    try {
      // The BPE tokenizer fitted here round-trips text and sizes the model.
      assert.ok(parts.tokenizer.vocabSize <= 300);
      assert.equal(parts.tokenizer.decode(prompt), "generate a sentence with: dog frisbee catch.");
      assert.equal(parts.learner.config.vocabSize, parts.tokenizer.vocabSize);
      assert.equal(parts.learner.config.nEmbd, 16);
      assert.equal(parts.learner.config.eosTokenId, parts.tokenizer.eosTokenId);
      // Scored text leaves EOS out, with the tokenizer saved beside the model too.
      assert.equal(
        parts.tokenizer.decode([...target, parts.tokenizer.eosTokenId]),
        " The dog catches a frisbee.",
      );
      assert.equal(parts.learner.tokenizer?.decode([parts.tokenizer.eosTokenId]), "");
      assert.equal(parts.tokenizer.decode([parts.tokenizer.eosTokenId]), "");
      // The BC guide is the pretrained model fine-tuned further: its log-probs differ.
      assert.ok(parts.guide instanceof GPT2LM);
      assert.deepEqual(parts.baselines.map((b) => b.name), ["BC guide"]);
      guideLogProbs = await parts.guide.continuationLogProbs([prompt], [target]);
      const learner = await parts.learner.continuationLogProbs([prompt], [target]);
      assert.ok(Math.abs(guideLogProbs[0][0] - learner[0][0]) > 1e-4);
      // Task: pooled references per concept set, the validation split as "val".
      const val = await parts.task.records("val");
      assert.deepEqual(val.map((r) => r.prompt), [
        "generate a sentence with: ski mountain skier.",
        "generate a sentence with: dog frisbee catch.",
      ]);
      assert.deepEqual(val[1].references, SETS[1][1]);
      assert.equal(parts.task.generation.maxNewTokens, config.train.generation.maxNewTokens);
      // Reward: CIDEr-D only (SPICE off); a reference scores higher than an unrelated sentence.
      assert.equal((parts.reward as { mode?: string }).mode, "cider");
      const rewards = await parts.reward({
        prompts: [val[1].prompt, val[0].prompt],
        generations: [" The dog catches a frisbee.", " A cat sleeps on the sofa."],
        references: [val[1].references, val[0].references],
      });
      assert.ok(rewards[0] > rewards[1] && rewards[1] >= 0, String(rewards));
      // Metrics: BLEU-1..4, METEOR, ROUGE-L, CIDEr-D; no SPICE, SPIDEr or BERTScore.
      const metrics = await parts.task.metrics({
        prompts: val.map((r) => r.prompt),
        generations: [" A skier skis down the mountain.", " A cat."],
        references: val.map((r) => r.references),
      });
      assert.deepEqual(Object.keys(metrics).sort(), [
        "lexical/bleu_1",
        "lexical/bleu_2",
        "lexical/bleu_3",
        "lexical/bleu_4",
        "lexical/cider",
        "lexical/meteor",
        "lexical/rouge_l",
      ]);
    } finally {
      parts.learner.dispose();
      for (const o of parts.owned) o.dispose();
    }
    const root = `${cacheRoot()}/commongen-small`;
    const built = [...Deno.readDirSync(root)].map((e) => e.name.replace(/-[0-9a-f]{8}$/, ""));
    assert.deepEqual(built.sort(), ["bc-guide", "pretrained", "tokenizer"]);
    // A second build reuses every artefact: same guide weights, nothing new in the cache.
    const again = await commonGenSmallParts(config, new Rng(0));
    try {
      const logProbs = await (again.guide as GPT2LM).continuationLogProbs([prompt], [target]);
      assert.deepEqual(logProbs, guideLogProbs);
    } finally {
      again.learner.dispose();
      for (const o of again.owned) o.dispose();
    }
    assert.equal([...Deno.readDirSync(root)].length, 3);
  } finally {
    await env.cleanup();
  }
});

Deno.test("commonGenPairs() appends EOS to whole targets, cuts long ones, keeps the prompt's tail", () => {
  const words = ["<eos>", "generate", " a", " sentence", " with:", " cow", " cat.", " A", " dog"];
  const tokenizer: Tokenizer = {
    vocabSize: words.length + 1,
    eosTokenId: 0,
    padTokenId: 0,
    encode: (text) => text.match(/ ?\S+/g)!.map((w) => words.indexOf(w)),
    decode: (ids) => ids.map((i) => words[i]).join(""),
  };
  const pairs = commonGenPairs(
    [{ index: 0, concepts: ["cow", "cat"], references: ["A dog A dog", "A dog"], where: "x" }],
    tokenizer,
    { maxPrompt: 3, maxNew: 3 },
  );
  // "generate a sentence with: cow cat." -> its last 3 tokens: " with:", " cow", " cat.".
  assert.deepEqual(pairs, [
    { prompt: [4, 5, 6], target: [7, 8, 7] }, // 4 tokens: cut to 3, no EOS
    { prompt: [4, 5, 6], target: [7, 8, 0] }, // ends within the horizon: EOS appended
  ]);
});

Deno.test("commonGenDataDir(): the flag, else RLGF_DATA_DIR, else ./data or ../shared/data, else a ConfigError", async () => {
  const previous = Deno.env.get("RLGF_DATA_DIR");
  const cwd = Deno.cwd();
  const dir = await Deno.makeTempDir();
  try {
    Deno.env.delete("RLGF_DATA_DIR");
    Deno.chdir(dir);
    assert.equal(commonGenDataDir("/data/x/"), "/data/x");
    assert.throws(
      () => commonGenDataDir(null),
      (error: Error) => error instanceof ConfigError && error.field === "task.dataDir",
    );
    await Deno.mkdir(`${dir}/data/commongen`, { recursive: true });
    assert.equal(commonGenDataDir(null), "data");
    Deno.env.set("RLGF_DATA_DIR", "/from/env");
    assert.equal(commonGenDataDir(null), "/from/env");
  } finally {
    Deno.chdir(cwd);
    await Deno.remove(dir, { recursive: true });
    if (previous === undefined) Deno.env.delete("RLGF_DATA_DIR");
    else Deno.env.set("RLGF_DATA_DIR", previous);
  }
});

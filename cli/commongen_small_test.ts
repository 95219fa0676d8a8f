import assert from "node:assert/strict";
import { ConfigError } from "../core/errors.ts";
import { Rng } from "../core/prng.ts";
import { initBackend } from "../models/backend.ts";
import { T5LM } from "../models/t5.ts";
import type { Tokenizer } from "../models/types.ts";
import {
  commonGenDataDir,
  commonGenPairs,
  commonGenSmallParts,
  SENTINEL_TOKENS,
} from "./commongen_small.ts";
import { resolveConfig, type RunConfig } from "./config.ts";
import { tinyData } from "../tests/_tiny_data.ts";
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
function tinyCommonGen(): Promise<{ dataDir: string; cleanup(): Promise<void> }> {
  return tinyData("commongen-small", async (dataDir) => {
    await Deno.mkdir(`${dataDir}/commongen`, { recursive: true });
    await Deno.writeTextFile(`${dataDir}/commongen/train.jsonl`, jsonl(SETS, 0));
    await Deno.writeTextFile(`${dataDir}/commongen/validation.jsonl`, jsonl(SETS.slice(0, 2), 100));
    await Deno.writeTextFile(`${dataDir}/commongen/test.jsonl`, jsonl(SETS.slice(2, 4), 200));
  });
}

function tinyConfig(dataDir: string, policy: Record<string, unknown> = {}): RunConfig {
  return resolveConfig("commongen-small", [{
    source: "test",
    values: {
      task: { dataDir },
      policy: {
        vocabSize: 300,
        nEmbd: 16,
        nLayer: 1,
        nHead: 2,
        nInner: 32,
        pretrainSteps: 3,
        pretrainBatchSize: 4,
        ...policy,
      },
      guide: { bcSteps: 3, bcLearningRate: 1e-2 },
    },
  }]);
}

Deno.test("commonGenSmallParts() builds a T5 tokenizer, span-corruption T5, BC guide, CIDEr-D reward and caches them", async () => {
  const env = await tinyCommonGen();
  try {
    const config = tinyConfig(env.dataDir);
    assert.equal(config.policy.init, "bc");
    const parts = await commonGenSmallParts(config, new Rng(0));
    let guideLogProbs: number[][];
    const prompt = parts.tokenizer.encode("generate a sentence with: dog frisbee catch.");
    const target = parts.tokenizer.encode("The dog catches a frisbee.");
    try {
      // The BPE tokenizer fitted here round-trips text and sizes the model; T5's specials are
      // their own tokens (pad = decoder start, EOS, sentinels), left out of decoded text.
      assert.ok(parts.tokenizer.vocabSize <= 300);
      assert.equal(parts.tokenizer.decode(prompt), "generate a sentence with: dog frisbee catch.");
      assert.ok(parts.learner instanceof T5LM);
      const c = parts.learner.config;
      assert.deepEqual([c.vocabSize, c.dModel, c.numHeads, c.dKv, c.dFf], [
        parts.tokenizer.vocabSize,
        16,
        2,
        8,
        32,
      ]);
      assert.equal(c.eosTokenId, parts.tokenizer.eosTokenId);
      assert.equal(c.padTokenId, parts.tokenizer.padTokenId);
      assert.equal(c.decoderStartTokenId, c.padTokenId);
      assert.notEqual(c.padTokenId, c.eosTokenId);
      const sentinels = SENTINEL_TOKENS.map((t) => parts.tokenizer.encode(t));
      assert.ok(sentinels.every((ids) => ids.length === 1));
      assert.equal(new Set(sentinels.flat()).size, SENTINEL_TOKENS.length);
      assert.equal(
        parts.tokenizer.decode([...target, ...sentinels[0], parts.tokenizer.eosTokenId]),
        "The dog catches a frisbee.",
      );
      // The learner starts from the BC guide's weights (policy.init "bc"); the zero-shot
      // baseline is the span-corruption model, whose log-probs differ.
      assert.ok(parts.guide instanceof T5LM);
      assert.ok(parts.zeroShot instanceof T5LM);
      assert.deepEqual(parts.baselines.map((b) => b.name), ["BC guide"]);
      guideLogProbs = await parts.guide.continuationLogProbs([prompt], [target]);
      assert.deepEqual(
        await parts.learner.continuationLogProbs([prompt], [target]),
        guideLogProbs,
      );
      const zeroShot = await parts.zeroShot.continuationLogProbs([prompt], [target]);
      assert.ok(Math.abs(guideLogProbs[0][0] - zeroShot[0][0]) > 1e-4);
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
        generations: ["The dog catches a frisbee.", "A cat sleeps on the sofa."],
        references: [val[1].references, val[0].references],
      });
      assert.ok(rewards[0] > rewards[1] && rewards[1] >= 0, String(rewards));
      // Metrics: BLEU-1..4, METEOR, ROUGE-L, CIDEr-D, coverage; no SPICE, SPIDEr or BERTScore.
      const metrics = await parts.task.metrics({
        prompts: val.map((r) => r.prompt),
        generations: ["A skier skis down the mountain.", "A cat."],
        references: val.map((r) => r.references),
      });
      assert.deepEqual(Object.keys(metrics).sort(), [
        "lexical/bleu_1",
        "lexical/bleu_2",
        "lexical/bleu_3",
        "lexical/bleu_4",
        "lexical/cider",
        "lexical/coverage",
        "lexical/meteor",
        "lexical/rouge_l",
      ]);
      // (3/3 + 0/3) / 2
      assert.equal(metrics["lexical/coverage"], 0.5);
    } finally {
      parts.learner.dispose();
      parts.zeroShot?.dispose();
      for (const o of parts.owned) o.dispose();
    }
    const root = `${cacheRoot()}/commongen-small`;
    const built = [...Deno.readDirSync(root)].map((e) => e.name.replace(/-[0-9a-f]{8}$/, ""));
    assert.deepEqual(built.sort(), ["t5-bc-guide", "t5-pretrained", "t5-tokenizer"]);
    // A second build reuses every artefact: same guide weights, nothing new in the cache.
    const again = await commonGenSmallParts(
      tinyConfig(env.dataDir, { init: "pretrained" }),
      new Rng(0),
    );
    try {
      const logProbs = await (again.guide as T5LM).continuationLogProbs([prompt], [target]);
      assert.deepEqual(logProbs, guideLogProbs);
      // starting from the pretrained model, the learner is the zero-shot model itself
      assert.equal(again.zeroShot, undefined);
      assert.notDeepEqual(
        await (again.learner as T5LM).continuationLogProbs([prompt], [target]),
        logProbs,
      );
    } finally {
      again.learner.dispose();
      for (const o of again.owned) o.dispose();
    }
    assert.equal([...Deno.readDirSync(root)].length, 3);
  } finally {
    await env.cleanup();
  }
});

Deno.test("commonGenSmallParts() refuses a GPT policy and a BC start without a BC guide, naming the field", async () => {
  const env = await tinyCommonGen();
  try {
    await assert.rejects(
      () => commonGenSmallParts(tinyConfig(env.dataDir, { architecture: "gpt2" }), new Rng(0)),
      (error: Error) => error instanceof ConfigError && error.field === "policy.architecture",
    );
    const config = tinyConfig(env.dataDir);
    config.guide.kind = "none";
    await assert.rejects(
      () => commonGenSmallParts(config, new Rng(0)),
      (error: Error) => error instanceof ConfigError && error.field === "policy.init",
    );
  } finally {
    await env.cleanup();
  }
});

Deno.test("commonGenPairs() appends EOS to whole targets, cuts long ones, keeps the prompt's tail", () => {
  const words = ["<eos>", "generate", " a", " sentence", " with:", " cow", " cat.", "A", " dog"];
  const tokenizer: Tokenizer = {
    vocabSize: words.length + 1,
    eosTokenId: 0,
    padTokenId: 0,
    encode: (text) => text.match(/ ?\S+/g)!.map((w) => words.indexOf(w)),
    decode: (ids) => ids.map((i) => words[i]).join(""),
  };
  const pairs = commonGenPairs(
    [{ index: 0, concepts: ["cow", "cat"], references: ["A dog dog dog", "A dog"], where: "x" }],
    tokenizer,
    { maxPrompt: 3, maxNew: 3 },
  );
  // "generate a sentence with: cow cat." -> its last 3 tokens: " with:", " cow", " cat.".
  assert.deepEqual(pairs, [
    { prompt: [4, 5, 6], target: [7, 8, 8] }, // 4 tokens: cut to 3, no EOS
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

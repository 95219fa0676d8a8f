import assert from "node:assert/strict";
import { Rng } from "../core/prng.ts";
import { initBackend } from "../models/backend.ts";
import { loadCausalLM } from "../models/checkpoint.ts";
import { imdbSplitIndices } from "../tasks/imdb_task.ts";
import {
  BASE_FILES,
  type BaseCorpus,
  type BaseRecipe,
  fileSha256,
  pretrainBase,
} from "./imdb_base.ts";

await initBackend();

const WORDS = ("the film was a great movie and i liked it but the plot is thin " +
  "acting story characters ending funny boring best worst ever seen").split(" ");

function corpus(): BaseCorpus {
  const rng = new Rng(3);
  const review = () =>
    Array.from({ length: 12 + rng.int(20) }, () => WORDS[rng.int(WORDS.length)]).join(" ");
  return {
    train: Array.from({ length: 120 }, review),
    heldOut: Array.from({ length: 6 }, review),
    unlabelled: 0,
  };
}

const RECIPE: BaseRecipe = {
  seed: 5,
  vocabSize: 300,
  tokenizerReviews: 120,
  nLayer: 1,
  nEmbd: 32,
  nHead: 2,
  nPositions: 16,
  steps: 6,
  batchSize: 4,
  learningRate: 3e-3,
  warmupSteps: 2,
  decayFraction: 0.5,
  weightDecay: 0.01,
};

const quiet = () => {};

Deno.test("pretrainBase() resumed from a checkpoint makes the weights of an unbroken run", async () => {
  const root = await Deno.makeTempDir({ prefix: "rlgf-base-" });
  try {
    const data = corpus();
    const common = { corpus: data, recipe: RECIPE, checkpointEvery: 2, log: quiet };
    const straight = await pretrainBase({
      ...common,
      workDir: `${root}/a`,
      outDir: `${root}/a-out`,
    });
    assert.ok(straight);
    // a sitting that ends after step 3, then one that resumes there
    const first = await pretrainBase({
      ...common,
      workDir: `${root}/b`,
      outDir: `${root}/b-out`,
      stopAfter: 3,
    });
    assert.equal(first, null);
    const resumed = await pretrainBase({
      ...common,
      workDir: `${root}/b`,
      outDir: `${root}/b-out`,
    });
    assert.ok(resumed);
    assert.equal(resumed.sha256["model.safetensors"], straight.sha256["model.safetensors"]);
    assert.equal(resumed.heldOut.bitsPerByte, straight.heldOut.bitsPerByte);

    // the record's checksums are the files'; the card gives the held-out number
    for (const name of BASE_FILES) {
      assert.equal(await fileSha256(`${root}/a-out/${name}`), straight.sha256[name]);
    }
    const card = await Deno.readTextFile(`${root}/a-out/README.md`);
    assert.ok(card.includes(straight.heldOut.bitsPerByte.toFixed(3)));
    assert.equal(straight.heldOut.reviews, data.heldOut.length);
    assert.ok(straight.heldOut.bitsPerByte > 0 && straight.heldOut.bitsPerByte < 8);
    const model = await loadCausalLM(`${root}/a-out`);
    assert.equal(model.config.nPositions, RECIPE.nPositions);
    assert.equal(model.config.vocabSize, model.tokenizer?.vocabSize);
    model.dispose();

    // the log has one loss per step, no step twice after the resume
    const log = (await Deno.readTextFile(`${root}/b/log.jsonl`)).trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    const losses = log.filter((r) => "loss" in r).map((r) => r.iteration);
    assert.deepEqual(losses, [1, 2, 3, 4, 5, 6]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("pretrainBase() refuses a work folder holding another recipe's checkpoints", async () => {
  const root = await Deno.makeTempDir({ prefix: "rlgf-base-" });
  try {
    const common = { corpus: corpus(), checkpointEvery: 2, log: quiet, outDir: `${root}/out` };
    await pretrainBase({ ...common, recipe: RECIPE, workDir: `${root}/w`, stopAfter: 2 });
    await assert.rejects(
      () =>
        pretrainBase({
          ...common,
          recipe: { ...RECIPE, learningRate: 1e-3 },
          workDir: `${root}/w`,
        }),
      (error: Error) => error.message.includes(`${root}/w/checkpoints`),
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("pretrainBase() goes on to another length from a checkpoint before the decay", async () => {
  const root = await Deno.makeTempDir({ prefix: "rlgf-base-" });
  try {
    const common = { corpus: corpus(), checkpointEvery: 2, log: quiet };
    const longer = { ...RECIPE, steps: 8 };
    const straight = await pretrainBase({
      ...common,
      recipe: longer,
      workDir: `${root}/a`,
      outDir: `${root}/a-out`,
    });
    // 6 steps decay from step 3: the checkpoint at step 2 is still on the shared schedule
    await pretrainBase({
      ...common,
      recipe: RECIPE,
      workDir: `${root}/b`,
      outDir: `${root}/o`,
      stopAfter: 2,
    });
    const extended = await pretrainBase({
      ...common,
      recipe: longer,
      workDir: `${root}/b`,
      outDir: `${root}/b-out`,
    });
    assert.equal(extended?.sha256["model.safetensors"], straight?.sha256["model.safetensors"]);
    // past a decay start only the same length goes on (an earlier checkpoint would be taken)
    await pretrainBase({
      ...common,
      checkpointEvery: 4,
      recipe: RECIPE,
      workDir: `${root}/c`,
      outDir: `${root}/o`,
      stopAfter: 4,
    });
    await assert.rejects(
      () => pretrainBase({ ...common, recipe: longer, workDir: `${root}/c`, outDir: `${root}/o` }),
      (error: Error) => error.message.includes("checkpoints"),
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("imdbSplitIndices() keeps the held-out reviews out of the test subset", () => {
  const split = imdbSplitIndices(100, 25000, { testSize: 25000 });
  assert.equal(split.heldOut.length, 1000);
  assert.equal(split.test.length, 24000);
  const held = new Set(split.heldOut);
  assert.ok(split.test.every((i) => !held.has(i)));
  // the default test subset is the same as before held-out reviews existed
  assert.deepEqual(imdbSplitIndices(100, 25000).test, split.test.slice(0, 5000));
});

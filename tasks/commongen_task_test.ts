import assert from "node:assert/strict";
import { COMMONGEN_GENERATION, createCommonGenTask, withCoverageBonus } from "./commongen_task.ts";
import { commonGenPrompt } from "./commongen.ts";

Deno.test("createCommonGenTask() maps splits to files and records to pooled references", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const row = (idx: number, concepts: string[], target: string) =>
      JSON.stringify({ concept_set_idx: idx, concepts, target });
    await Deno.writeTextFile(
      `${dir}/validation.jsonl`,
      [row(0, ["dog", "ball"], "A dog and a ball."), row(0, ["dog", "ball"], "The dog fetches.")]
        .join("\n"),
    );
    // The HF v1.1 test split has no references: records still load, with none.
    await Deno.writeTextFile(`${dir}/test.jsonl`, row(0, ["cat", "sofa", "sleep"], ""));
    const injected = {
      reward: () => Promise.resolve([1]),
      metrics: () => Promise.resolve({ "cider/corpus": 1 }),
    };
    const task = createCommonGenTask({ dataDir: dir, ...injected });
    assert.equal(task.reward, injected.reward);
    assert.deepEqual(
      await task.metrics({
        prompts: ["generate a sentence with: dog ball.", "generate a sentence with: cat run."],
        generations: ["Dogs chase the ball.", "A cat."],
        references: [["x"], ["y"]],
      }),
      // the injected metrics, plus coverage: (2/2 + 1/2) / 2
      { "cider/corpus": 1, "lexical/coverage": 0.75 },
    );
    await assert.rejects(
      () => task.metrics({ prompts: ["hello"], generations: ["a"], references: [["b"]] }),
      /prompt 0 "hello" is not a CommonGen prompt/,
    );
    assert.equal(task.generation.maxNewTokens, COMMONGEN_GENERATION.maxNewTokens);
    assert.deepEqual(await task.records("val"), [{
      id: "0",
      prompt: "generate a sentence with: dog ball.",
      references: ["A dog and a ball.", "The dog fetches."],
      meta: { concepts: ["dog", "ball"] },
    }]);
    assert.deepEqual((await task.records("test"))[0].references, []);
    await assert.rejects(() => task.records("train"), { name: "InputError" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("withCoverageBonus adds weight × each row's concept coverage to the reward", async () => {
  const base = (b: { prompts: string[] }) => Promise.resolve(b.prompts.map(() => 0.25));
  const reward = withCoverageBonus(base, 0.5);
  const prompts = [commonGenPrompt(["dog", "frisbee", "catch"]), commonGenPrompt(["sun", "rise"])];
  // "dogs catch" covers dog (stem) and catch: 2 of 3; "the sun" covers 1 of 2
  const scores = await reward({ prompts, generations: ["the dogs catch it", "the sun"] });
  assert.ok(Math.abs(scores[0] - (0.25 + 0.5 * 2 / 3)) < 1e-12, `${scores[0]}`);
  assert.ok(Math.abs(scores[1] - (0.25 + 0.5 * 1 / 2)) < 1e-12, `${scores[1]}`);
  assert.equal(withCoverageBonus(base, 0), base);
  await assert.rejects(
    reward({ prompts: ["write something"], generations: ["x"] }),
    /commongen reward: prompt 0 "write something" is not a CommonGen prompt/,
  );
  assert.throws(() => withCoverageBonus(base, -1), /coverage weight must be a finite number ≥ 0/);
});

import assert from "node:assert/strict";
import { difficultyMeans, terciles } from "./difficulty.ts";

Deno.test("terciles() by hand: lowest values hardest, ties share a tercile", () => {
  assert.deepEqual(terciles([0.9, 0.1, 0.5, 0.3, 0.7, 0.2]), [2, 0, 1, 1, 2, 0]);
  assert.deepEqual(terciles([0.5, 0.5, 0.5]), [0, 0, 0]);
});

Deno.test("difficultyMeans() groups by the prompt's own reward, scores by the row's", async () => {
  // the reward is the share of "good" among the words of prompt + generation
  const reward = (batch: { prompts: string[]; generations: string[] }) =>
    Promise.resolve(batch.prompts.map((p, i) => {
      const words = `${p} ${batch.generations[i]}`.trim().split(/\s+/);
      return words.filter((w) => w === "good").length / words.length;
    }));
  const batch = {
    prompts: ["bad bad", "good good", "good bad", "bad bad bad", "good good good", "good bad bad"],
    generations: ["good", "good", "bad", "good", "good", "bad"],
  };
  const scores = await reward(batch);
  const means = await difficultyMeans(batch, scores, reward, "sentiment");
  // own rewards 0, 1, 0.5, 0, 1, 1/3 → hard {0, 3}, medium {2, 5}, easy {1, 4}
  assert.deepEqual(means, {
    "sentiment/hard": (scores[0] + scores[3]) / 2,
    "sentiment/medium": (scores[2] + scores[5]) / 2,
    "sentiment/easy": (scores[1] + scores[4]) / 2,
  });
  assert.deepEqual(await difficultyMeans({ prompts: [], generations: [] }, [], reward, "x"), {});
});

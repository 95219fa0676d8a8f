import assert from "node:assert/strict";
import { Rng } from "../core/prng.ts";
import {
  SentimentClassifier,
  sentimentTokens,
  trainSentimentClassifier,
} from "./sentiment_classifier.ts";

const POSITIVE = ["great", "wonderful", "superb", "moving", "brilliant", "loved"];
const NEGATIVE = ["awful", "boring", "dull", "terrible", "waste", "hated"];
const NEUTRAL = ["the", "film", "plot", "actor", "scene", "movie", "story", "was", "a", "it"];

/** A toy corpus: neutral filler plus 1-3 words of the label's own vocabulary. */
function corpus(rng: Rng, n: number): { texts: string[]; labels: number[] } {
  const texts: string[] = [];
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const label = rng.int(2);
    const cue = label === 1 ? POSITIVE : NEGATIVE;
    const words = Array.from({ length: 8 }, () => NEUTRAL[rng.int(NEUTRAL.length)]);
    for (let c = 0; c <= rng.int(3); c++) words.splice(rng.int(words.length), 0, cue[rng.int(6)]);
    texts.push(words.join(" "));
    labels.push(label);
  }
  return { texts, labels };
}

const options = { buckets: 2 ** 14, lambdas: [1e-4], maxIterations: 100 };

Deno.test("sentimentTokens() lowercases, drops HTML breaks and keeps ! and ?", () => {
  assert.deepEqual(
    sentimentTokens("Don't GO!<br /><br />Really?? 10/10"),
    ["don't", "go", "!", "really", "?", "?", "10", "10"],
  );
});

Deno.test("trainSentimentClassifier() learns a separable toy problem", () => {
  const train = corpus(new Rng(1).child("train"), 400);
  const test = corpus(new Rng(1).child("test"), 200);
  const model = trainSentimentClassifier(train.texts, train.labels, options);
  const p = model.predict(test.texts);
  const correct = p.filter((pi, i) => (pi >= 0.5 ? 1 : 0) === test.labels[i]).length;
  assert.equal(correct, test.texts.length);
  const [pos, neg] = model.predict(["the film was superb", "the film was dull"]);
  assert.ok(pos > 0.8 && neg < 0.2, `${pos} ${neg}`);
});

Deno.test("trainSentimentClassifier() is deterministic and picks lambda on held-out texts", () => {
  const train = corpus(new Rng(2), 300);
  const messages: string[] = [];
  const run = () =>
    trainSentimentClassifier(train.texts, train.labels, {
      ...options,
      lambdas: [1e-1, 1e-3],
      seed: 5,
      onProgress: (m) => messages.push(m),
    });
  const a = run();
  const b = run();
  assert.deepEqual(a.predict(train.texts.slice(0, 20)), b.predict(train.texts.slice(0, 20)));
  assert.ok(messages.some((m) => m.startsWith("lambda 0.1: validation accuracy")));
  assert.ok([1e-1, 1e-3].includes(a.lambda));
});

Deno.test("SentimentClassifier save/load round trip gives identical predictions", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const train = corpus(new Rng(3), 200);
    const model = trainSentimentClassifier(train.texts, train.labels, options);
    await model.save(`${dir}/model.bin`);
    const loaded = await SentimentClassifier.load(`${dir}/model.bin`);
    const probe = [...train.texts.slice(0, 30), "never seen words here", ""];
    assert.deepEqual(loaded.predict(probe), model.predict(probe));
    assert.equal(loaded.lambda, model.lambda);
    // The write was atomic: no temporary file is left beside the model.
    const names = [];
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
    assert.deepEqual(names, ["model.bin"]);
    // The reward scores prompt + generation as one text.
    const reward = await loaded.asReward()({ prompts: ["the film was "], generations: ["superb"] });
    assert.deepEqual(reward, loaded.predict(["the film was superb"]));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SentimentClassifier.load() rejects a file that is not a model, naming it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/x.bin`, "hello world, not a model");
    await assert.rejects(() => SentimentClassifier.load(`${dir}/x.bin`), {
      name: "InputError",
      message: `${dir}/x.bin: Not a sentiment classifier file (expected magic RLGFSENT)`,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * `deno task reward:train [--data DIR] [--out FILE] [--results DIR] [--seed N]`: trains our tf-idf logistic
 * regression sentiment classifier on IMDB's 25,000 labelled training reviews, scores the 25,000
 * test reviews, saves the model, and writes accuracy and time to bench/results/reward_classifier.*.
 * @module
 */
import { writeFileAtomic, writeJsonAtomic } from "../core/atomic.ts";
import { trainSentimentClassifier } from "../rewards/sentiment_classifier.ts";
import { imdbDataDir } from "../tasks/download.ts";
import { loadImdbSplit } from "../tasks/imdb.ts";
import { commandFlags, integerFlag } from "./flags.ts";

const HELP = `Usage: deno task reward:train [options]

Trains our IMDB sentiment classifier (tf-idf + logistic regression, the imdb-small reward) on the
25,000 labelled training reviews, scores the 25,000 test reviews, saves the model and writes its
accuracy and time to RESULTS/reward_classifier.md and .json.

Options:
  --data DIR       IMDB folder (else RLGF_DATA_DIR, else the aclImdb archive is downloaded)
  --out FILE       where the model goes (default runs/reward/sentiment_classifier.bin)
  --results DIR    where the results go (default bench/results)
  --seed N         the seed (default 42)
  -h, --help       this text`;

const values = commandFlags(Deno.args, {
  data: { type: "string" },
  out: { type: "string", default: "runs/reward/sentiment_classifier.bin" },
  results: { type: "string", default: "bench/results" },
  seed: { type: "string", default: "42" },
}, HELP);
integerFlag("--seed", values.seed);
// The flag, else RLGF_DATA_DIR, else the aclImdb archive downloaded into the cache folder.
let dataDir: string;
try {
  dataDir = await imdbDataDir(values.data, {
    onProgress: (p) =>
      console.log(
        `Downloading aclImdb: ${(p.bytes / 1e6).toFixed(1)}` +
          `${p.total ? ` of ${(p.total / 1e6).toFixed(1)}` : ""} MB, ` +
          `${(p.bytesPerSecond / 1e6).toFixed(2)} MB/s` +
          `${p.etaSeconds !== null ? `, ${Math.round(p.etaSeconds)} s left` : ""}`,
      ),
  });
} catch (error) {
  console.error((error as Error).message);
  Deno.exit(2);
}
const log = (message: string) =>
  console.log(`[${((performance.now() - t0) / 1000).toFixed(1)} s] ${message}`);
const t0 = performance.now();
const train = await loadImdbSplit(dataDir, "train");
const test = await loadImdbSplit(dataDir, "test");
log(`Loaded ${train.length} train and ${test.length} test reviews from ${dataDir}`);
const tTrain = performance.now();
const model = trainSentimentClassifier(train.map((r) => r.text), train.map((r) => r.label), {
  seed: Number(values.seed),
  onProgress: log,
});
const trainSeconds = (performance.now() - tTrain) / 1000;
const probabilities = model.predict(test.map((r) => r.text));
const correct = probabilities.filter((p, i) => (p >= 0.5 ? 1 : 0) === test[i].label).length;
const accuracy = correct / test.length;
const totalSeconds = (performance.now() - t0) / 1000;
log(`Test accuracy ${(100 * accuracy).toFixed(2)} % (${correct}/${test.length})`);
await Deno.mkdir(values.out.replace(/\/[^/]*$/, "") || ".", { recursive: true });
await model.save(values.out);
log(`Saved ${values.out}`);
const result = {
  model:
    "tf-idf (hashed word uni+bigrams, 2^20 slots, sublinear tf, min df 2) + L2 logistic regression (L-BFGS)",
  lambda: model.lambda,
  seed: Number(values.seed),
  trainReviews: train.length,
  testReviews: test.length,
  testAccuracy: accuracy,
  trainSeconds,
  totalSeconds,
  modelFile: values.out,
  cpu: `${Deno.build.os} ${Deno.build.arch}, ${navigator.hardwareConcurrency} logical cores`,
  deno: Deno.version.deno,
  date: new Date().toISOString(),
};
await Deno.mkdir(values.results, { recursive: true });
await writeJsonAtomic(`${values.results}/reward_classifier.json`, result);
await writeFileAtomic(
  `${values.results}/reward_classifier.md`,
  `# Sentiment classifier (our own reward model)

Command: \`deno task reward:train --data ${dataDir}\`

| | |
|---|---|
| model | ${result.model} |
| lambda (chosen on a seeded 10 % validation split of train) | ${result.lambda} |
| train reviews | ${train.length} |
| test reviews | ${test.length} |
| **test accuracy** | **${(100 * accuracy).toFixed(2)} %** |
| training time (fit incl. lambda selection) | ${trainSeconds.toFixed(1)} s |
| total time (load + train + test + save) | ${totalSeconds.toFixed(1)} s |
| machine | ${result.cpu}, Deno ${result.deno} |
| date | ${result.date} |
`,
);
log(`Wrote ${values.results}/reward_classifier.md and .json`);

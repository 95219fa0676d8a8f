/**
 * `deno task bench:data [--data DIR]`: one loader pass over all 50,000 IMDB reviews (with the
 * spec's prompts, GPT-2 tokenized) and every
 * CommonGen split, reporting counts and times in bench/results/data.md (and .json).
 * @module
 */
import { AutoTokenizer, env } from "@huggingface/transformers";
import { writeFileAtomic, writeJsonAtomic } from "../core/atomic.ts";
import type { Tokenizer } from "../models/types.ts";
import { commonGenRecords } from "../tasks/commongen_task.ts";
import { loadCommonGenSplit } from "../tasks/commongen.ts";
import { resolveDataDir } from "../tasks/data_dir.ts";
import { imdbPrompt, loadImdbSplit } from "../tasks/imdb.ts";
import { imdbSplitIndices } from "../tasks/imdb_task.ts";
import { commandFlags } from "../cli/flags.ts";

const HELP = `Usage: deno task bench:data [options]

One loader pass over all 50,000 IMDB reviews (the spec's prompts, GPT-2 tokenized) and every
CommonGen split; counts and times go to RESULTS/data.md and .json.

Options:
  --data DIR       dataset folder (else RLGF_DATA_DIR, else ../shared/data)
  --results DIR    where the results go (default bench/results)
  -h, --help       this text`;

const values = commandFlags(Deno.args, {
  data: { type: "string" },
  results: { type: "string", default: "bench/results" },
}, HELP);
const dataDir = resolveDataDir(values.data) ??
  new URL("../../shared/data", import.meta.url).pathname;

/**
 * GPT-2's BPE through transformers.js, read from the sentiment fixture's tokenizer.json (the same
 * vocabulary and merges as shared/data/tokenizers/gpt2, which lacks the tokenizer_config.json
 * transformers.js needs).
 */
env.allowRemoteModels = false;
env.localModelPath = new URL("../tests/fixtures/", import.meta.url).pathname;
const gpt2 = await AutoTokenizer.from_pretrained("tiny-sentiment-onnx");
const tokenizer: Tokenizer = {
  vocabSize: 50257,
  eosTokenId: 50256,
  padTokenId: 50256,
  encode: (text) => gpt2.encode(text),
  decode: (ids) => gpt2.decode(ids),
};

interface Row {
  what: string;
  count: string;
  seconds: number;
}
const rows: Row[] = [];
async function timed<T>(what: string, body: () => Promise<T>, count: (t: T) => string): Promise<T> {
  const t0 = performance.now();
  const result = await body();
  const seconds = (performance.now() - t0) / 1000;
  rows.push({ what, count: count(result), seconds });
  console.log(`${what}: ${count(result)} in ${seconds.toFixed(2)} s`);
  return result;
}

const t0 = performance.now();
const train = await timed(
  "IMDB train (JSONL.gz)",
  () => loadImdbSplit(dataDir, "train"),
  (r) => `${r.length} reviews (${r.filter((x) => x.label === 1).length} positive)`,
);
const test = await timed(
  "IMDB test (JSONL.gz)",
  () => loadImdbSplit(dataDir, "test"),
  (r) => `${r.length} reviews (${r.filter((x) => x.label === 1).length} positive)`,
);
const split = imdbSplitIndices(train.length, test.length);
let truncated = 0;
await timed(
  "IMDB prompts (GPT-2 BPE, left-truncated to 64 tokens), all reviews",
  () =>
    Promise.resolve([...train, ...test].map((r) => {
      const half = r.text.split(/\s+/).filter((w) => w !== "");
      const p = imdbPrompt(r, tokenizer);
      if (p.prompt !== half.slice(0, Math.floor(half.length / 2)).join(" ")) truncated++;
      return p;
    })),
  (p) => `${p.length} prompt/reference pairs, ${truncated} prompts truncated`,
);
rows.push({
  what: "IMDB task splits (seed 42)",
  count: `train ${split.train.length} / val ${split.val.length} / test ${split.test.length}`,
  seconds: 0,
});
for (const name of ["train", "validation", "test"] as const) {
  await timed(
    `CommonGen ${name}`,
    async () => {
      const sets = await loadCommonGenSplit(dataDir, name);
      return { sets, records: commonGenRecords(sets) };
    },
    ({ sets }) =>
      `${sets.length} concept sets, ${
        sets.reduce((n, s) => n + s.references.length, 0)
      } references`,
  );
}
const total = (performance.now() - t0) / 1000;
console.log(`Total ${total.toFixed(2)} s`);

await Deno.mkdir(values.results, { recursive: true });
const meta = {
  dataDir,
  cpu: `${Deno.build.os} ${Deno.build.arch}, ${navigator.hardwareConcurrency} logical cores`,
  deno: Deno.version.deno,
  date: new Date().toISOString(),
};
await writeJsonAtomic(`${values.results}/data.json`, { ...meta, totalSeconds: total, rows });
await writeFileAtomic(
  `${values.results}/data.md`,
  `# Data loaders: one pass over the real data

Command: \`deno task bench:data --data ${dataDir}\` (${meta.cpu}, Deno ${meta.deno}, ${meta.date})

| what | count | seconds |
|---|---|---|
${rows.map((r) => `| ${r.what} | ${r.count} | ${r.seconds.toFixed(2)} |`).join("\n")}
| **total** | | **${total.toFixed(2)}** |
`,
);

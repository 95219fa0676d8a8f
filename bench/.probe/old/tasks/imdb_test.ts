import assert from "node:assert/strict";
import { parquetWriteBuffer } from "hyparquet-writer";
import { imdbPrompt, type ImdbReview, loadImdbSplit, readImdbJsonl } from "./imdb.ts";
import { wordTokenizer } from "./_word_tokenizer.ts";

const reviews = [
  { text: "Awful film.<br /><br />Do not watch it", label: 0, file: "neg/0_2" },
  { text: "Boring and slow", label: 0, file: "neg/10_1" },
  { text: "A wonderful cast, great story", label: 1, file: "pos/3_9" },
];

async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function writeGzip(path: string, text: string): Promise<void> {
  const stream = ReadableStream.from([new TextEncoder().encode(text)])
    .pipeThrough(new CompressionStream("gzip"));
  await Deno.writeFile(path, new Uint8Array(await new Response(stream).arrayBuffer()));
}

function strip(list: ImdbReview[]) {
  return list.map((r) => [r.id, r.text, r.label]);
}

Deno.test("loadImdbSplit() reads JSONL.gz with ids, the aclImdb folder and HF parquet alike", async () => {
  await withDir(async (dir) => {
    // JSONL with the ids file, as in ../shared/data/imdb.
    await Deno.mkdir(`${dir}/a/imdb`, { recursive: true });
    const lines = reviews.map((r) => JSON.stringify({ text: r.text, label: r.label })).join("\n");
    await writeGzip(`${dir}/a/imdb/train.jsonl.gz`, lines + "\n");
    await Deno.writeTextFile(`${dir}/a/imdb/train.ids.txt`, reviews.map((r) => r.file).join("\n"));
    // The original archive layout; ids sort numerically (10 after 0), negatives first.
    for (const r of reviews) {
      await Deno.mkdir(`${dir}/b/aclImdb/train/${r.file.split("/")[0]}`, { recursive: true });
      await Deno.writeTextFile(`${dir}/b/aclImdb/train/${r.file}.txt`, r.text);
    }
    // Hugging Face parquet.
    await Deno.mkdir(`${dir}/c/plain_text`, { recursive: true });
    const buffer = parquetWriteBuffer({
      columnData: [
        { name: "text", data: reviews.map((r) => r.text), type: "STRING" },
        { name: "label", data: reviews.map((r) => BigInt(r.label)), type: "INT64" },
      ],
    });
    await Deno.writeFile(
      `${dir}/c/plain_text/train-00000-of-00001.parquet`,
      new Uint8Array(buffer),
    );

    const expected = reviews.map((r) => [r.file, r.text, r.label]);
    assert.deepEqual(strip(await loadImdbSplit(`${dir}/a`, "train")), expected);
    assert.deepEqual(strip(await loadImdbSplit(`${dir}/b`, "train")), expected);
    const fromParquet = await loadImdbSplit(`${dir}/c`, "train");
    assert.deepEqual(fromParquet.map((r) => [r.text, r.label]), expected.map((e) => [e[1], e[2]]));
    assert.match(fromParquet[2].where, /train-00000-of-00001\.parquet row 3$/);
  });
});

Deno.test("loadImdbSplit() says where it looked when nothing is there", async () => {
  await withDir(async (dir) => {
    await assert.rejects(() => loadImdbSplit(dir, "test"), {
      name: "InputError",
      message: new RegExp(`^${dir}: No IMDB test data found`),
    });
  });
});

Deno.test("readImdbJsonl() rejects an empty review, a missing field and a bad label by line", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/train.jsonl`;
    const cases: [string, string][] = [
      [
        '{"text":"fine film","label":1}\n{"text":"  ","label":0}',
        `${path}:2: Field "text" is an empty review`,
      ],
      ['{"label":1}', `${path}:1: Missing field "text" (expected string)`],
      [
        '{"text":"x y","label":"1"}',
        `${path}:1: Field "label" must be integer, got the string "1"`,
      ],
      ['{"text":"x y","label":2}', `${path}:1: Field "label" must be 0 or 1, got 2`],
      ['{"text":"x y","label":1}\n{"text":', `${path}:2: Malformed JSON`],
    ];
    for (const [content, message] of cases) {
      await Deno.writeTextFile(path, content);
      await assert.rejects(
        () => readImdbJsonl(path, "train"),
        (e: Error) => e.name === "InputError" && e.message.startsWith(message),
        message,
      );
    }
  });
});

Deno.test("loadImdbSplit() rejects a parquet file of the wrong schema, naming the column", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(`${dir}/plain_text`);
    const path = `${dir}/plain_text/test-00000-of-00001.parquet`;
    const buffer = parquetWriteBuffer({
      columnData: [
        { name: "review", data: ["good"], type: "STRING" },
        { name: "label", data: [1], type: "INT32" },
      ],
    });
    await Deno.writeFile(path, new Uint8Array(buffer));
    await assert.rejects(() => loadImdbSplit(dir, "test"), {
      name: "InputError",
      message: `${path}: Missing column "text" (expected string); columns are review, label`,
    });
    await Deno.writeFile(
      path,
      new Uint8Array(parquetWriteBuffer({
        columnData: [
          { name: "text", data: ["good"], type: "STRING" },
          { name: "label", data: ["pos"], type: "STRING" },
        ],
      })),
    );
    await assert.rejects(() => loadImdbSplit(dir, "test"), {
      message: `${path}: Column "label" must be integer, got string`,
    });
  });
});

Deno.test("imdbPrompt() takes the first half of the words and keeps the last 64 tokens", () => {
  const tokenizer = wordTokenizer();
  const review = (text: string): ImdbReview => ({ id: "x", text, label: 1, where: "f:1" });
  // 5 words: floor(5/2) = 2 in the prompt; whitespace runs collapse to one space.
  assert.deepEqual(imdbPrompt(review("one  two\tthree four five"), tokenizer), {
    prompt: "one two",
    reference: " three four five",
  });
  // 200 words: the prompt's 100 words are left-truncated to the last 64.
  const words = Array.from({ length: 200 }, (_, i) => `w${i}`);
  const { prompt, reference } = imdbPrompt(review(words.join(" ")), tokenizer);
  assert.equal(prompt, words.slice(36, 100).join(" "));
  assert.equal(reference, " " + words.slice(100).join(" "));
  assert.equal(imdbPrompt(review(words.join(" ")), tokenizer, 3).prompt, "w97 w98 w99");
  assert.throws(() => imdbPrompt(review("single"), tokenizer), {
    message: 'f:1: Field "text" needs at least 2 words to make a prompt and a reference, got 1',
  });
});

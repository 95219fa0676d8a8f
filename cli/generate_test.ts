import assert from "node:assert/strict";
import type { CliIo } from "./cli_io.ts";
import { generate, main } from "./generate.ts";

const TINY = new URL("../tests/fixtures/tiny-gpt2", import.meta.url).pathname;
const TINY_ONNX = new URL("../tests/fixtures/tiny-gpt2-onnx", import.meta.url).pathname;

interface GreedyCase {
  prompt: string;
  prompt_ids: number[];
  max_new_tokens: number;
  new_ids: number[];
}

const reference: { greedy: GreedyCase[] } = JSON.parse(
  await Deno.readTextFile(`${TINY_ONNX}/greedy_reference.json`),
);

function collector(): CliIo & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return { lines, errors, out: (l) => lines.push(l), err: (l) => errors.push(l) };
}

Deno.test("generate() greedy output equals the PyTorch greedy reference of tiny-gpt2", async () => {
  const cases = reference.greedy.slice(0, 2);
  const io = collector();
  const out = await generate([
    "--model",
    TINY,
    "--max-new-tokens",
    String(cases[0].max_new_tokens),
    ...cases.map((c) => c.prompt),
  ], io);
  assert.ok(out);
  cases.forEach((c, i) => {
    assert.deepEqual(out[i].ids, c.new_ids, c.prompt);
    assert.equal(out[i].prompt, c.prompt);
  });
  // Printed as prompt + completion, a blank line between prompts.
  assert.equal(io.lines.length, 2);
  assert.equal(io.lines[0], cases[0].prompt + out[0].completion);
  assert.equal(io.lines[1], "\n" + cases[1].prompt + out[1].completion);
});

Deno.test("generate() reads an ONNX model folder and gives the same greedy tokens", async () => {
  const c = reference.greedy[0];
  const out = await generate(
    ["--model", TINY_ONNX, "--max-new-tokens", String(c.max_new_tokens), "--json", c.prompt],
    collector(),
  );
  assert.deepEqual(out?.[0].ids, c.new_ids);
});

Deno.test("generate() sampling is reproducible by seed and honours --max-new-tokens", async () => {
  const args = ["--model", TINY, "--sample", "--top-k", "50", "--max-new-tokens", "6", "Hello"];
  const a = await generate([...args, "--seed", "3"], collector());
  const b = await generate([...args, "--seed", "3"], collector());
  const c = await generate([...args, "--seed", "4"], collector());
  assert.deepEqual(a?.[0].ids, b?.[0].ids);
  assert.equal(a?.[0].ids.length, 6);
  assert.notDeepEqual(a?.[0].ids, c?.[0].ids);
});

Deno.test("main() of generate gives a one-line error naming the bad input and exit code 1", async () => {
  const cases: [string[], RegExp][] = [
    [["--model", TINY, "--bogus", "x"], /--bogus/],
    [["--model", "/no/such/model", "x"], /\/no\/such\/model: model folder not found/],
    [["--model", TINY], /give at least one prompt/],
    [
      ["--model", TINY, "--max-new-tokens", "-5", "x"],
      /^error: flag --max-new-tokens: expected an integer >= 0, got "-5"$/,
    ],
    [
      ["--model", TINY, "--max-tokens", "5", "x"],
      /unknown flag --max-tokens \(did you mean --max-new-tokens\?\)/,
    ],
    [["x"], /--model/],
    [["--model", TINY, "--temperature", "0.7", "x"], /--temperature.*only applies with --sample/],
    [["--model", TINY, "--max-new-tokens", "many", "x"], /--max-new-tokens.*"many"/],
  ];
  for (const [argv, pattern] of cases) {
    const io = collector();
    assert.equal(await main(argv, io), 1, argv.join(" "));
    assert.equal(io.errors.length, 1, io.errors.join("\n"));
    assert.match(io.errors[0], /^error: /);
    assert.match(io.errors[0], pattern);
  }
});

Deno.test("deno task generate exits non-zero with one stderr line for a missing model folder", async () => {
  const script = new URL("./generate.ts", import.meta.url).pathname;
  const result = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, "--model", "/no/such/model", "hello"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(result.stderr).trim();
  assert.notEqual(result.code, 0);
  assert.equal(stderr.split("\n").length, 1, stderr);
  assert.match(stderr, /\/no\/such\/model/);
});

Deno.test("generate() reads a T5 folder: greedy ids equal the PyTorch reference of tiny-t5", async () => {
  const dir = new URL("../tests/fixtures/tiny-t5", import.meta.url).pathname;
  const ref = JSON.parse(await Deno.readTextFile(`${dir}/reference.json`));
  const [g] = ref.greedy as { prompt: string; max_new_tokens: number; new_ids: number[] }[];
  const out = await generate(
    ["--model", dir, "--max-new-tokens", String(g.max_new_tokens), "--json", g.prompt],
    collector(),
  );
  assert.deepEqual(out![0].ids, g.new_ids);
  // as text, a seq2seq output is shown on its own line, not as a continuation of the prompt
  const io = collector();
  const [text] = (await generate(
    ["--model", dir, "--max-new-tokens", String(g.max_new_tokens), g.prompt],
    io,
  ))!;
  assert.deepEqual(io.lines, [`${g.prompt}\n-> ${text.completion}`]);
});

Deno.test("generate() takes its defaults from generation_config.json; flags override them", async () => {
  const dir = await Deno.makeTempDir();
  for await (const entry of Deno.readDir(TINY)) {
    await Deno.copyFile(`${TINY}/${entry.name}`, `${dir}/${entry.name}`);
  }
  await Deno.writeTextFile(
    `${dir}/generation_config.json`,
    JSON.stringify({ max_new_tokens: 3, do_sample: true, top_k: 5 }),
  );
  const prompt = reference.greedy[0].prompt;
  const sampled = await generate(["--model", dir, prompt], collector());
  assert.equal(sampled![0].ids.length, 3);
  // the config samples, with seed 0 unless --seed: the same tokens twice
  assert.deepEqual(
    (await generate(["--model", dir, prompt], collector()))![0].ids,
    sampled![0].ids,
  );
  const longer = await generate(["--model", dir, "--max-new-tokens", "5", prompt], collector());
  assert.equal(longer![0].ids.length, 5);
  await Deno.remove(dir, { recursive: true });
});

import assert from "node:assert/strict";
import { InputError } from "../core/errors.ts";
import { LineSplitStream, readJsonl, requireField } from "./jsonl.ts";

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

async function gzip(text: string): Promise<Uint8Array> {
  const stream = ReadableStream.from([new TextEncoder().encode(text)])
    .pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

Deno.test("LineSplitStream() splits lines across chunk boundaries and CRLF", async () => {
  const lines = await collect(
    ReadableStream.from(["a\r", "\nbb\n", "", "c", "c\n\nd"]).pipeThrough(new LineSplitStream()),
  );
  assert.deepEqual(lines, ["a", "bb", "cc", "", "d"]);
});

Deno.test("readJsonl() reads plain and gzip files with line numbers, skipping blank lines", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const text = '{"a":1}\n\n{"a":"x\\ny"}\n';
    await Deno.writeTextFile(`${dir}/p.jsonl`, text);
    await Deno.writeFile(`${dir}/p.jsonl.gz`, await gzip(text));
    for (const name of ["p.jsonl", "p.jsonl.gz"]) {
      const rows = await collect(readJsonl(`${dir}/${name}`));
      assert.deepEqual(rows.map((r) => [r.value, r.line]), [[{ a: 1 }, 1], [{ a: "x\ny" }, 3]]);
      assert.equal(rows[1].where, `${dir}/${name}:3`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readJsonl() names the file and line of a malformed line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${dir}/bad.jsonl.gz`, await gzip('{"a":1}\n{"a":\n'));
    await assert.rejects(
      () => collect(readJsonl(`${dir}/bad.jsonl.gz`)),
      (e: Error) =>
        e instanceof InputError && e.message.startsWith(`${dir}/bad.jsonl.gz:2: Malformed JSON`),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readJsonl() reports a truncated gzip file by name", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const whole = await gzip('{"a":1}\n'.repeat(1000));
    await Deno.writeFile(`${dir}/cut.jsonl.gz`, whole.subarray(0, whole.length - 12));
    await assert.rejects(
      () => collect(readJsonl(`${dir}/cut.jsonl.gz`)),
      (e: Error) =>
        e instanceof InputError && e.message.startsWith(`${dir}/cut.jsonl.gz: Cannot read`),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("requireField() names the field, its expected kind and what was found", () => {
  assert.equal(requireField({ t: "x" }, "t", "string", "f:1"), "x");
  assert.deepEqual(requireField({ c: ["a"] }, "c", "string[]", "f:1"), ["a"]);
  assert.throws(
    () => requireField({ t: "x" }, "label", "integer", "f:2"),
    { name: "InputError", message: 'f:2: Missing field "label" (expected integer)' },
  );
  assert.throws(
    () => requireField({ label: 0.5 }, "label", "integer", "f:3"),
    { message: 'f:3: Field "label" must be integer, got number 0.5' },
  );
  assert.throws(
    () => requireField({ c: ["a", 1] }, "c", "string[]", "f:4"),
    { message: 'f:4: Field "c" must be string[], got an array' },
  );
  assert.throws(() => requireField([1], "c", "string", "f:5"), {
    message: "f:5: Expected a JSON object, got an array",
  });
});

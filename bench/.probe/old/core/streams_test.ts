import assert from "node:assert/strict";
import { bufferCount, concatMap, from, map } from "rxjs";
import { jsonlParseStream, jsonlStringifyStream, lineStream, operatorStream } from "./streams.ts";

Deno.test("operatorStream() passes batches through an async RxJS operator in order", async () => {
  const op = (source: import("rxjs").Observable<number>) =>
    source.pipe(
      bufferCount(2),
      concatMap((batch) => from(Promise.resolve(batch.reduce((s, x) => s + x, 0)))),
    );
  const out = await Array.fromAsync(
    ReadableStream.from([1, 2, 3, 4, 5]).pipeThrough(operatorStream(op)),
  );
  assert.deepEqual(out, [3, 7, 5]);
});

Deno.test("operatorStream() errors the stream when the operator throws", async () => {
  const op = map((x: number) => {
    if (x === 2) throw new Error("bad row 2");
    return x;
  });
  await assert.rejects(
    () => Array.fromAsync(ReadableStream.from([1, 2, 3]).pipeThrough(operatorStream(op))),
    /bad row 2/,
  );
});

Deno.test("lineStream() splits across chunk boundaries and keeps a last unterminated line", async () => {
  const out = await Array.fromAsync(
    ReadableStream.from(["a\r\nb", "c\n", "d"]).pipeThrough(lineStream()),
  );
  assert.deepEqual(out, ["a", "bc", "d"]);
});

Deno.test("jsonlParseStream() names the source and line of malformed JSON", async () => {
  const lines = ReadableStream.from(['{"a":1}', "", "{oops"]);
  await assert.rejects(
    () => Array.fromAsync(lines.pipeThrough(jsonlParseStream("prompts.jsonl"))),
    /prompts\.jsonl:3: malformed JSON/,
  );
});

Deno.test("jsonlStringifyStream() and jsonlParseStream() round-trip values", async () => {
  const values = [{ a: 1 }, { b: "x\ny" }];
  const text =
    (await Array.fromAsync(ReadableStream.from(values).pipeThrough(jsonlStringifyStream()))).join(
      "",
    );
  const back = await Array.fromAsync(
    ReadableStream.from([text]).pipeThrough(lineStream()).pipeThrough(jsonlParseStream()),
  );
  assert.deepEqual(back, values);
});

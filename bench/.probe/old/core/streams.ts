/**
 * Web Streams adapters, so stages written as RxJS operators can sit in a plain
 * Deno stream pipeline (`file → lines → JSON → stage → JSONL → file`).
 * JSR's `@std/streams` is unreachable here, so the two small line helpers live here.
 * @module
 */
/** @ignore rxjs documents its own types; we reference them, not re-export them. */
import { type OperatorFunction, Subject } from "rxjs";

/**
 * Turns an RxJS operator into a `TransformStream`: each chunk written is fed to
 * the operator, each value it emits is enqueued, and the stream closes when the
 * operator completes after the input ends.
 *
 * @example Doubling numbers in a stream
 * ```ts
 * import { map } from "rxjs";
 * import { operatorStream } from "./streams.ts";
 * const out = await Array.fromAsync(
 *   ReadableStream.from([1, 2, 3]).pipeThrough(operatorStream(map((x: number) => 2 * x))),
 * );
 * if (out.join() !== "2,4,6") throw new Error(String(out));
 * ```
 */
export function operatorStream<In, Out>(
  operator: OperatorFunction<In, Out>,
): TransformStream<In, Out> {
  const input = new Subject<In>();
  let finished: Promise<void>;
  return new TransformStream<In, Out>({
    start(controller) {
      finished = new Promise<void>((resolve, reject) => {
        operator(input).subscribe({
          next: (value) => controller.enqueue(value),
          error: (error) => {
            controller.error(error);
            reject(error);
          },
          complete: () => resolve(),
        });
      });
      // The rejection is reported through controller.error; avoid an unhandled-rejection crash.
      finished.catch(() => {});
    },
    transform(chunk) {
      input.next(chunk);
    },
    async flush() {
      input.complete();
      await finished;
    },
  });
}

/** Splits a text stream into lines (LF or CRLF); a final line without newline is kept. */
export function lineStream(): TransformStream<string, string> {
  let rest = "";
  return new TransformStream<string, string>({
    transform(chunk, controller) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop() ?? "";
      for (const line of parts) controller.enqueue(line.endsWith("\r") ? line.slice(0, -1) : line);
    },
    flush(controller) {
      if (rest.length > 0) controller.enqueue(rest.endsWith("\r") ? rest.slice(0, -1) : rest);
    },
  });
}

/** Parses JSONL lines into values, skipping blank lines; errors name the source and line. */
export function jsonlParseStream<T = unknown>(source = "input"): TransformStream<string, T> {
  let lineNumber = 0;
  return new TransformStream<string, T>({
    transform(line, controller) {
      lineNumber++;
      if (line.trim() === "") return;
      try {
        controller.enqueue(JSON.parse(line));
      } catch (error) {
        throw new SyntaxError(
          `${source}:${lineNumber}: malformed JSON (${(error as Error).message})`,
        );
      }
    },
  });
}

/** Writes each value as one line of JSON. */
export function jsonlStringifyStream<T>(): TransformStream<T, string> {
  return new TransformStream<T, string>({
    transform(value, controller) {
      controller.enqueue(JSON.stringify(value) + "\n");
    },
  });
}

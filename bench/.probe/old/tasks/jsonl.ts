/**
 * Streaming JSON Lines reading (plain or gzip) with errors that name the file, line and field.
 *
 * JSR's `@std/streams` is not reachable here (environment.md), so the line splitter is our own.
 * @module
 */
import { InputError } from "../core/errors.ts";

/**
 * Splits a stream of text chunks into lines (`\n` or `\r\n`), like std's TextLineStream.
 * A final line without a newline is emitted too; empty lines are kept (callers skip them).
 */
export class LineSplitStream extends TransformStream<string, string> {
  constructor() {
    let rest = "";
    super({
      transform(chunk, controller) {
        const text = rest + chunk;
        let start = 0;
        let end = text.indexOf("\n", start);
        while (end !== -1) {
          const stop = end > start && text.charCodeAt(end - 1) === 13 ? end - 1 : end;
          controller.enqueue(text.slice(start, stop));
          start = end + 1;
          end = text.indexOf("\n", start);
        }
        rest = text.slice(start);
      },
      flush(controller) {
        if (rest.length > 0) controller.enqueue(rest.endsWith("\r") ? rest.slice(0, -1) : rest);
      },
    });
  }
}

/** One parsed line of a JSONL file and where it came from. */
export interface JsonlRecord {
  /** The parsed JSON value. */
  value: unknown;
  /** The 1-based line number in the (decompressed) file. */
  line: number;
  /** `file:line`, for error messages. */
  where: string;
}

/**
 * Opens a file as a stream of text lines; `.gz` files are gunzipped on the fly.
 * @param path a plain text file, or a gzip file whose name ends in `.gz`
 * @returns a stream of lines without their line endings
 */
export async function openTextLines(path: string): Promise<ReadableStream<string>> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw new InputError("File not found", path);
    throw error;
  }
  let bytes: ReadableStream<Uint8Array> = file.readable;
  if (path.endsWith(".gz")) {
    bytes = bytes.pipeThrough(
      new DecompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>,
    );
  }
  return bytes.pipeThrough(new TextDecoderStream("utf-8", { fatal: true }))
    .pipeThrough(new LineSplitStream());
}

/**
 * Reads a JSONL file (plain or `.gz`) line by line, skipping blank lines.
 * @param path the file to read
 * @returns an async iterator of parsed lines; a malformed line throws an InputError naming
 *   the file and line
 */
export async function* readJsonl(path: string): AsyncGenerator<JsonlRecord> {
  let lineNo = 0;
  const lines = await openTextLines(path);
  try {
    for await (const text of lines) {
      lineNo++;
      if (text.trim() === "") continue;
      const where = `${path}:${lineNo}`;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (error) {
        throw new InputError(`Malformed JSON (${(error as Error).message})`, where);
      }
      yield { value, line: lineNo, where };
    }
  } catch (error) {
    if (error instanceof InputError) throw error;
    // Decompression and UTF-8 errors carry no position: name the file and the last good line.
    throw new InputError(
      `Cannot read after line ${lineNo}: ${(error as Error).message}`,
      path,
    );
  }
}

/** The field kinds {@linkcode requireField} checks. */
export interface FieldKinds {
  /** Any JSON string, empty included. */
  string: string;
  /** A finite JSON number. */
  number: number;
  /** A JSON number with no fractional part. */
  integer: number;
  /** `true` or `false`. */
  boolean: boolean;
  /** An array whose items are all strings. */
  "string[]": string[];
}

/**
 * Returns `record[name]` after checking it exists and has the expected kind.
 * @param record a parsed JSON value (must be an object)
 * @param name the field's name
 * @param kind what the field must be
 * @param where `file:line` (or `file row N`) for the error message
 * @returns the field's value, typed by `kind`
 */
export function requireField<K extends keyof FieldKinds>(
  record: unknown,
  name: string,
  kind: K,
  where: string,
): FieldKinds[K] {
  if (record === null || typeof record !== "object" || Array.isArray(record)) {
    throw new InputError(`Expected a JSON object, got ${describe(record)}`, where);
  }
  if (!(name in record)) {
    throw new InputError(`Missing field "${name}" (expected ${kind})`, where);
  }
  const value = (record as Record<string, unknown>)[name];
  if (!isKind(value, kind)) {
    throw new InputError(`Field "${name}" must be ${kind}, got ${describe(value)}`, where);
  }
  return value as FieldKinds[K];
}

function isKind(value: unknown, kind: keyof FieldKinds): boolean {
  switch (kind) {
    case "string":
      return typeof value === "string";
    case "number":
      return typeof value === "number" && Number.isFinite(value);
    case "integer":
      return typeof value === "number" && Number.isInteger(value);
    case "boolean":
      return typeof value === "boolean";
    case "string[]":
      return Array.isArray(value) && value.every((v) => typeof v === "string");
  }
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") {
    return `the string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + "…" : value)}`;
  }
  if (typeof value === "object") return "an object";
  return `${typeof value} ${String(value)}`;
}

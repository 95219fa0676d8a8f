/**
 * A small streaming tar reader (POSIX ustar, GNU long names, pax `path`/`size`), enough to unpack
 * dataset archives such as aclImdb_v1.tar.gz, and an extractor that writes a folder atomically.
 * @module
 */
import { writeDirAtomic } from "../core/atomic.ts";
import { InputError } from "../core/errors.ts";

/** One archive member. Links, devices and FIFOs are reported but never written. */
export interface TarEntry {
  /** The member's path inside the archive (`/`-separated, no leading `./`). */
  name: string;
  /** `file`, `directory`, or `other` (links, devices, ...). */
  type: "file" | "directory" | "other";
  /** The member's bytes (empty for non-files). */
  data: Uint8Array;
}

const BLOCK = 512;

/**
 * Reads tar members from a byte stream (already decompressed).
 * @param stream the tar bytes
 * @param source the archive's name, for error messages
 * @returns an async iterator of members in archive order
 */
export async function* readTar(
  stream: ReadableStream<Uint8Array>,
  source: string,
): AsyncGenerator<TarEntry> {
  const reader = new ChunkReader(stream);
  let longName: string | undefined;
  let pax: Record<string, string> = {};
  try {
    yield* members();
  } finally {
    // Stopping early (an error, a break) must still release the source, e.g. close its file.
    await reader.cancel();
  }

  async function* members(): AsyncGenerator<TarEntry> {
    while (true) {
      const offset = reader.offset;
      const header = await reader.read(BLOCK);
      if (header === null) {
        throw new InputError(`Archive ends without its end-of-archive blocks`, source);
      }
      if (header.every((b) => b === 0)) return;
      checkChecksum(header, `${source} (header at byte ${offset})`);
      const flag = String.fromCharCode(header[156] || 48);
      const size = pax.size !== undefined ? Number(pax.size) : readSize(header, source, offset);
      const data = await reader.read(size);
      if (data === null) {
        throw new InputError(`Archive is truncated inside a member at byte ${offset}`, source);
      }
      await reader.skip((BLOCK - (size % BLOCK)) % BLOCK);
      if (flag === "L") {
        longName = cString(data);
        continue;
      }
      if (flag === "x") {
        pax = parsePax(data, source);
        continue;
      }
      if (flag === "g") continue;
      const prefix = cString(header.subarray(345, 500));
      const baseName = cString(header.subarray(0, 100));
      const name = (pax.path ?? longName ?? (prefix ? `${prefix}/${baseName}` : baseName))
        .replace(/^(\.\/)+/, "");
      longName = undefined;
      pax = {};
      const type = flag === "0" || flag === "7" ? "file" : flag === "5" ? "directory" : "other";
      yield { name, type, data: type === "file" ? data : new Uint8Array() };
    }
  }
}

/**
 * Unpacks a `.tar.gz` into `destDir` atomically: members go to a temporary sibling folder that is
 * renamed into place when complete, so an interrupted extraction leaves nothing half-written.
 * @param archivePath the `.tar.gz` file
 * @param destDir the folder to create (replaced if it exists)
 * @param options `stripComponents` drops that many leading path parts (as `tar --strip-components`)
 * @returns the number of files written
 */
export async function extractTarGz(
  archivePath: string,
  destDir: string,
  options: { stripComponents?: number } = {},
): Promise<number> {
  const strip = options.stripComponents ?? 0;
  let files = 0;
  await writeDirAtomic(destDir, async (tmp) => {
    const file = await Deno.open(archivePath);
    const stream = file.readable.pipeThrough(
      new DecompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>,
    );
    const made = new Set<string>();
    try {
      for await (const entry of readTar(stream, archivePath)) {
        const parts = entry.name.split("/").filter((p) => p !== "" && p !== ".").slice(strip);
        if (parts.length === 0 || entry.type === "other") continue;
        if (parts.includes("..") || entry.name.startsWith("/")) {
          throw new InputError(
            `Member "${entry.name}" escapes the destination folder`,
            archivePath,
          );
        }
        const target = `${tmp}/${parts.join("/")}`;
        const dir = entry.type === "directory" ? target : target.slice(0, target.lastIndexOf("/"));
        if (!made.has(dir)) {
          await Deno.mkdir(dir, { recursive: true });
          made.add(dir);
        }
        if (entry.type === "file") {
          await Deno.writeFile(target, entry.data);
          files++;
        }
      }
    } catch (error) {
      if (error instanceof InputError) throw error;
      throw new InputError(`Cannot unpack (${(error as Error).message})`, archivePath);
    }
  });
  return files;
}

function checkChecksum(header: Uint8Array, where: string): void {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : header[i];
  const stored = parseInt(cString(header.subarray(148, 156)).trim(), 8);
  if (stored !== sum) {
    throw new InputError(`Corrupt tar header: checksum ${stored} stored, ${sum} computed`, where);
  }
}

function readSize(header: Uint8Array, source: string, offset: number): number {
  const field = header.subarray(124, 136);
  if (field[0] & 0x80) {
    // GNU base-256 encoding for sizes of 8 GiB and more.
    let size = field[0] & 0x7f;
    for (let i = 1; i < field.length; i++) size = size * 256 + field[i];
    return size;
  }
  const size = parseInt(cString(field).trim() || "0", 8);
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new InputError(`Bad member size in the header at byte ${offset}`, source);
  }
  return size;
}

function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(end === -1 ? bytes : bytes.subarray(0, end));
}

/** Pax extended headers: records "<length> <key>=<value>\n". */
function parsePax(data: Uint8Array, source: string): Record<string, string> {
  const out: Record<string, string> = {};
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(32, at);
    const length = parseInt(new TextDecoder().decode(data.subarray(at, space)), 10);
    if (space === -1 || !(length > 0)) throw new InputError(`Malformed pax header record`, source);
    const record = new TextDecoder().decode(data.subarray(space + 1, at + length - 1));
    const eq = record.indexOf("=");
    out[record.slice(0, eq)] = record.slice(eq + 1);
    at += length;
  }
  return out;
}

/** Reads exact byte counts from a stream of arbitrary chunks. */
class ChunkReader {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  offset = 0;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }

  /** Exactly `n` bytes, or null if the stream ends first. */
  async read(n: number): Promise<Uint8Array | null> {
    while (this.#buffered < n) {
      const { value, done } = await this.#reader.read();
      if (done) return null;
      this.#chunks.push(value);
      this.#buffered += value.length;
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.#chunks[0];
      const take = Math.min(chunk.length, n - filled);
      out.set(chunk.subarray(0, take), filled);
      filled += take;
      if (take === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(take);
    }
    this.#buffered -= n;
    this.offset += n;
    return out;
  }

  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }

  async skip(n: number): Promise<void> {
    if (n > 0 && (await this.read(n)) === null) throw new Error("Archive is truncated in padding");
  }
}

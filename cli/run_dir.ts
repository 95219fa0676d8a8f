/**
 * The run folder: resolved config, metrics.jsonl, samples, evaluation, report
 * and checkpoints. Checkpoints are folders made whole in a temporary sibling and
 * renamed into place, so a kill leaves the previous checkpoint intact; the last
 * few are kept.
 *
 * ```
 * RUN/config.json           resolved config
 * RUN/metrics.jsonl         one object per finished iteration
 * RUN/checkpoints/iter-000012/   state.json + model folders + manifest.json, complete or absent
 * RUN/report.html
 * RUN/.lock                 the pid of the run writing to the folder
 * ```
 *
 * Each checkpoint's `manifest.json` lists its files with their sizes and SHA-256, so a
 * resume notices a damaged checkpoint and falls back to the one before.
 * @module
 */
import { writeDirAtomic, writeFileAtomic } from "../core/atomic.ts";
import { InputError } from "../core/errors.ts";

const CHECKPOINT_PATTERN = /^iter-(\d{6})$/;
/** The file in each checkpoint that lists the others with their sizes and SHA-256. */
export const MANIFEST = "manifest.json";

/** Creates the run folder (or checks an existing one) and proves it is writable. */
export async function prepareRunDir(dir: string): Promise<void> {
  try {
    await Deno.mkdir(`${dir}/checkpoints`, { recursive: true });
    const probe = `${dir}/.write-test-${Deno.pid}`;
    await Deno.writeTextFile(probe, "");
    await Deno.remove(probe);
  } catch (error) {
    throw new InputError(`run folder is not writable (${(error as Error).message})`, dir);
  }
}

/** Iterations of the complete checkpoints in `dir`, ascending. */
export async function listCheckpoints(dir: string): Promise<number[]> {
  const found: number[] = [];
  try {
    for await (const entry of Deno.readDir(`${dir}/checkpoints`)) {
      const match = entry.isDirectory ? CHECKPOINT_PATTERN.exec(entry.name) : null;
      if (match) found.push(Number(match[1]));
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return found.sort((a, b) => a - b);
}

/** The folder of the checkpoint taken after `iteration` iterations. */
export function checkpointPath(dir: string, iteration: number): string {
  return `${dir}/checkpoints/iter-${String(iteration).padStart(6, "0")}`;
}

/** The SHA-256 of a file, as hex. */
export async function fileSha256(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function listFiles(root: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(`${root}/${prefix}`)) {
    const name = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory) out.push(...await listFiles(root, name));
    else if (entry.isFile && name !== MANIFEST) out.push(name);
  }
  return out.sort();
}

/** Writes `manifest.json` into a filled checkpoint folder: every file, its size and SHA-256. */
async function writeManifest(dir: string): Promise<void> {
  const files: Record<string, { bytes: number; sha256: string }> = {};
  for (const name of await listFiles(dir)) {
    files[name] = {
      bytes: (await Deno.stat(`${dir}/${name}`)).size,
      sha256: await fileSha256(`${dir}/${name}`),
    };
  }
  await writeFileAtomic(`${dir}/${MANIFEST}`, JSON.stringify({ files }, null, 2) + "\n");
}

/**
 * Checks a checkpoint against its manifest: every listed file is there with its size and
 * SHA-256. A checkpoint written before manifests existed passes unchecked.
 * @param dir the checkpoint folder
 * @throws {InputError} naming the first missing or damaged file
 */
export async function verifyCheckpoint(dir: string): Promise<void> {
  let text: string;
  try {
    text = await Deno.readTextFile(`${dir}/${MANIFEST}`);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  let files: Record<string, { bytes: number; sha256: string }>;
  try {
    files = JSON.parse(text).files;
    if (!files || typeof files !== "object") throw new Error("no files");
  } catch {
    throw new InputError("the manifest is damaged", `${dir}/${MANIFEST}`);
  }
  for (const [name, expected] of Object.entries(files)) {
    const path = `${dir}/${name}`;
    let size: number;
    try {
      size = (await Deno.stat(path)).size;
    } catch {
      throw new InputError("missing (listed in the manifest)", path);
    }
    if (size !== expected.bytes) {
      throw new InputError(`holds ${size} bytes, the manifest says ${expected.bytes}`, path);
    }
    if (await fileSha256(path) !== expected.sha256) {
      throw new InputError("its SHA-256 differs from the manifest's (damaged)", path);
    }
  }
}

/**
 * Writes a checkpoint atomically: `fill` writes its files into a temporary
 * folder, a manifest of their hashes is added, and the folder then becomes
 * `checkpoints/iter-NNNNNN`; older ones beyond `keep` are removed. A failure
 * (a full disk, say) leaves no partial checkpoint and the earlier ones as they were.
 * @throws {InputError} naming the checkpoint, the cause and the last intact checkpoint
 */
export async function writeCheckpoint(
  dir: string,
  iteration: number,
  fill: (tmpDir: string) => Promise<void>,
  keep = 3,
): Promise<string> {
  const target = checkpointPath(dir, iteration);
  try {
    await writeDirAtomic(target, async (tmp) => {
      await fill(tmp);
      await writeManifest(tmp);
    });
  } catch (error) {
    const previous = (await listCheckpoints(dir).catch(() => [])).filter((i) => i !== iteration)
      .at(-1);
    throw new InputError(
      `cannot write the checkpoint (${(error as Error).message}); ${
        previous === undefined
          ? "no earlier checkpoint"
          : `the previous checkpoint ${checkpointPath(dir, previous)} is intact`
      }`,
      target,
    );
  }
  const all = await listCheckpoints(dir);
  for (const old of all.slice(0, Math.max(0, all.length - keep))) {
    await Deno.remove(checkpointPath(dir, old), { recursive: true });
  }
  return target;
}

/**
 * Removes what a killed checkpoint write leaves behind: the temporary
 * `checkpoints/iter-NNNNNN.tmp-*` folders (never complete checkpoints).
 * @param dir the run folder
 * @returns the names removed
 */
export async function removeCheckpointLeftovers(dir: string): Promise<string[]> {
  const removed: string[] = [];
  try {
    for await (const entry of Deno.readDir(`${dir}/checkpoints`)) {
      if (/^iter-\d{6}\.tmp-/.test(entry.name)) {
        await Deno.remove(`${dir}/checkpoints/${entry.name}`, { recursive: true });
        removed.push(entry.name);
      }
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return removed.sort();
}

/**
 * Restores the newest usable checkpoint: each, newest first, is checked against its
 * manifest and handed to `load`; a damaged one is reported through `warn` (naming it)
 * and the one before is tried.
 * @param dir the run folder
 * @param load restores a checkpoint folder (throws when it cannot)
 * @param warn receives one line per checkpoint passed over
 * @returns the iteration and what `load` returned, or null when the folder has no checkpoint
 * @throws {InputError} when there are checkpoints but none is usable
 */
export async function loadLatestCheckpoint<T>(
  dir: string,
  load: (checkpointDir: string) => Promise<T>,
  warn: (line: string) => void,
): Promise<{ iteration: number; path: string; value: T } | null> {
  const found = await listCheckpoints(dir);
  for (const iteration of found.toReversed()) {
    const path = checkpointPath(dir, iteration);
    try {
      await verifyCheckpoint(path);
      return { iteration, path, value: await load(path) };
    } catch (error) {
      warn(
        `warning: checkpoint ${path} is unusable (${(error as Error).message}); ` +
          "trying the one before",
      );
    }
  }
  if (found.length > 0) {
    throw new InputError(
      `none of the ${found.length} checkpoints is usable; start a new run with another --out`,
      `${dir}/checkpoints`,
    );
  }
  return null;
}

/** A held run-folder lock; `await using` releases it at the end of the scope. */
export interface RunLock extends AsyncDisposable {
  /** The lock file. */
  readonly path: string;
  /** Removes the lock file (once). */
  release(): Promise<void>;
}

/** Whether a process with this pid is running here (false for a zombie); true when unknown. */
export function processAlive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      // no such process, or no /proc at all (then assume it runs)
      try {
        Deno.statSync("/proc/self");
        return false;
      } catch {
        return true;
      }
    }
    return true;
  }
}

/**
 * Takes the run folder's lock (`RUN/.lock`, holding this process's pid, host and start
 * time; created atomically), so a second run into the same folder is refused. A lock
 * whose process is gone (a killed run) is stale: it is replaced, with a line to `warn`.
 * @param dir the run folder
 * @param warn receives a line when a stale lock is replaced
 * @returns the lock; release it (or `await using`) when the run ends
 * @throws {InputError} naming the pid when another live run holds the folder
 */
export async function acquireRunLock(
  dir: string,
  warn: (line: string) => void = () => {},
): Promise<RunLock> {
  const path = `${dir}/.lock`;
  const host = Deno.hostname();
  const tmp = `${path}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.writeTextFile(
    tmp,
    JSON.stringify({ pid: Deno.pid, host, started: new Date().toISOString() }) + "\n",
  );
  try {
    for (let attempt = 0;; attempt++) {
      try {
        await Deno.link(tmp, path); // fails if the lock exists: creation and content at once
        break;
      } catch (error) {
        if (!(error instanceof Deno.errors.AlreadyExists) || attempt > 1) throw error;
      }
      let holder: { pid?: unknown; host?: unknown; started?: unknown } = {};
      try {
        holder = JSON.parse(await Deno.readTextFile(path));
      } catch {
        // unreadable: treated as stale below
      }
      const pid = typeof holder.pid === "number" ? holder.pid : null;
      const here = holder.host === undefined || holder.host === host;
      if (pid !== null && (!here || processAlive(pid))) {
        throw new InputError(
          `another run (pid ${pid}${here ? "" : ` on ${holder.host}`}, started ${
            holder.started ?? "at an unknown time"
          }) is writing to this folder; wait for it to end, or delete ${path} if it is gone`,
          dir,
        );
      }
      warn(
        `warning: removing the stale lock ${path} (${
          pid === null ? "unreadable" : `pid ${pid} is not running`
        })`,
      );
      await Deno.remove(path).catch(() => {});
    }
  } finally {
    await Deno.remove(tmp).catch(() => {});
  }
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    await Deno.remove(path).catch(() => {});
  };
  return { path, release, [Symbol.asyncDispose]: release };
}

/**
 * Appends one metrics object as a JSON line and flushes it to disk.
 * @throws {InputError} naming the file and the cause (a full disk, say)
 */
export async function appendJsonl(path: string, record: unknown): Promise<void> {
  const bytes = new TextEncoder().encode(JSON.stringify(record) + "\n");
  try {
    const file = await Deno.open(path, { append: true, create: true });
    try {
      let written = 0;
      while (written < bytes.length) written += await file.write(bytes.subarray(written));
      await file.sync();
    } finally {
      file.close();
    }
  } catch (error) {
    // a torn line is dropped when the file is read back; the lines before it stay whole
    throw new InputError(
      `cannot append a line (${(error as Error).message}); the lines before it are intact`,
      path,
    );
  }
}

/** Reads a JSONL file; a torn last line (from a kill mid-write) is dropped, any other bad line is an error. */
export async function readJsonl<T = Record<string, unknown>>(path: string): Promise<T[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  const lines = text.split("\n");
  const complete = text.endsWith("\n");
  const out: T[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    try {
      out.push(JSON.parse(line));
    } catch {
      if (!(i === lines.length - 1 && !complete)) {
        throw new InputError(`malformed JSON line`, `${path}:${i + 1}`);
      }
    }
  });
  return out;
}

/** Rewrites metrics.jsonl (atomically) keeping only the iterations before `iteration`: used on resume. */
export async function truncateMetrics(path: string, iteration: number): Promise<void> {
  const kept = (await readJsonl<{ iteration: number }>(path)).filter((m) =>
    m.iteration < iteration
  );
  await writeFileAtomic(path, kept.map((m) => JSON.stringify(m) + "\n").join(""));
}

/**
 * The run folder: resolved config, metrics.jsonl, samples, evaluation, report
 * and checkpoints. Checkpoints are folders made whole in a temporary sibling and
 * renamed into place, so a kill leaves the previous checkpoint intact; the last
 * few are kept.
 *
 * ```
 * RUN/config.json           resolved config
 * RUN/metrics.jsonl         one object per finished iteration
 * RUN/checkpoints/iter-000012/   state.json + model folders, complete or absent
 * RUN/report.html
 * ```
 * @module
 */
import { writeDirAtomic, writeFileAtomic } from "../core/atomic.ts";
import { InputError } from "../core/errors.ts";

const CHECKPOINT_PATTERN = /^iter-(\d{6})$/;

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

/**
 * Writes a checkpoint atomically: `fill` writes its files into a temporary
 * folder that then becomes `checkpoints/iter-NNNNNN`; older ones beyond `keep` are removed.
 */
export async function writeCheckpoint(
  dir: string,
  iteration: number,
  fill: (tmpDir: string) => Promise<void>,
  keep = 3,
): Promise<string> {
  const target = checkpointPath(dir, iteration);
  await writeDirAtomic(target, fill);
  const all = await listCheckpoints(dir);
  for (const old of all.slice(0, Math.max(0, all.length - keep))) {
    await Deno.remove(checkpointPath(dir, old), { recursive: true });
  }
  return target;
}

/** Appends one metrics object as a JSON line and flushes it to disk. */
export async function appendJsonl(path: string, record: unknown): Promise<void> {
  const file = await Deno.open(path, { append: true, create: true });
  try {
    await file.write(new TextEncoder().encode(JSON.stringify(record) + "\n"));
    await file.sync();
  } finally {
    file.close();
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

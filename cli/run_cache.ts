/**
 * Which cache folder a run's built parts (tokenizer, reward classifier,
 * zero-shot model, BC guide) came from, so that `deno task eval --run DIR` and
 * `deno task train --resume DIR` use the same ones instead of silently
 * rebuilding them in another cache (`RLGF_CACHE_DIR` unset or changed).
 * @module
 */
import { resolve } from "node:path";
import { writeJsonAtomic } from "../core/atomic.ts";
import { InputError } from "../core/errors.ts";
import { defaultCacheDir } from "../tasks/download.ts";
import { exists } from "../core/fs.ts";

/** The file in a run folder that records its cache folder. */
export const RUN_CACHE_FILE = "cache.json";

/**
 * Records the cache folder in use (`RLGF_CACHE_DIR`, else ~/.cache/rlgf) in
 * `RUN/cache.json`.
 * @param runDir the run folder
 */
export async function recordRunCache(runDir: string): Promise<void> {
  await writeJsonAtomic(`${runDir}/${RUN_CACHE_FILE}`, { cacheDir: resolve(defaultCacheDir()) });
}

/**
 * The cache folder a run recorded, or null for a run from before it was recorded.
 * @param runDir the run folder
 * @returns the folder, or null
 */
export async function readRunCache(runDir: string): Promise<string | null> {
  const path = `${runDir}/${RUN_CACHE_FILE}`;
  if (!(await exists(path))) return null;
  let json: { cacheDir?: unknown };
  try {
    json = JSON.parse(await Deno.readTextFile(path));
  } catch (error) {
    throw new InputError(`malformed JSON (${(error as Error).message})`, path);
  }
  if (typeof json.cacheDir !== "string" || json.cacheDir === "") {
    throw new InputError('expected { "cacheDir": "<folder>" }', path);
  }
  return json.cacheDir;
}

/**
 * Points `RLGF_CACHE_DIR` at the run's recorded cache folder for the rest of
 * the process (or until the returned function restores it).
 * @param runDir the run folder
 * @returns the cache folder now in use, whether the run recorded it, whether it
 * exists, and a function restoring the previous `RLGF_CACHE_DIR`
 */
export async function useRunCache(
  runDir: string,
): Promise<{ cacheDir: string; recorded: boolean; present: boolean; restore(): void }> {
  const recorded = await readRunCache(runDir);
  const before = Deno.env.get("RLGF_CACHE_DIR");
  if (recorded !== null) Deno.env.set("RLGF_CACHE_DIR", recorded);
  const cacheDir = defaultCacheDir();
  return {
    cacheDir,
    recorded: recorded !== null,
    present: await exists(cacheDir),
    restore() {
      if (before === undefined) Deno.env.delete("RLGF_CACHE_DIR");
      else Deno.env.set("RLGF_CACHE_DIR", before);
    },
  };
}

/**
 * SPICE (Anderson et al. 2016) through the SPICE 1.0 jar as an external Java process.
 * @module
 */

import { ConfigError, InputError } from "../core/errors.ts";
import { checkCaptionInput } from "./_ngrams.ts";

/** Where Java and the SPICE jar are. */
export interface SpiceOptions {
  /** Path to `spice-1.0.jar` (with its `lib/` folder of Stanford CoreNLP beside it). */
  jarPath: string;
  /** The Java 8+ executable. @default "java" */
  javaPath?: string;
  /** Folder the jar caches parses in (`-cache`); none when null. @default null */
  cacheDir?: string | null;
  /** Java's maximum heap (`-Xmx`). @default "8G" */
  maxHeap?: string;
}

/** SPICE of a set: the mean F-score and each candidate's scores. */
export interface SpiceResult {
  /** Mean of the per-item "All" F-scores (NaN if any item is NaN, as pycocoevalcap's np.mean). */
  corpus: number;
  /** "All" F-score of each candidate (NaN where the jar gives none). */
  perItem: number[];
  /** Every category's precision/recall/F of each candidate as the jar reports them. */
  details: Record<string, Record<string, number>>[];
}

/**
 * Runs the SPICE jar on a set of candidates, as pycocoevalcap's `Spice` does:
 * an input JSON list of `{image_id, test, refs}`, `java -jar -Xmx8G spice-1.0.jar
 * in.json [-cache dir] -out out.json -subset -silent`, and the "All" F-score of
 * each item from the output. Temporary files are removed afterwards.
 *
 * @param candidates one candidate string per item
 * @param references the reference strings of each item (at least one)
 * @param options Java, jar and cache paths
 * @returns mean and per-item SPICE
 * @throws {ConfigError} when the jar or Java cannot be found
 */
export async function spice(
  candidates: string[],
  references: string[][],
  options: SpiceOptions,
): Promise<SpiceResult> {
  checkCaptionInput("spice", candidates, references);
  const javaPath = options.javaPath ?? "java";
  try {
    if (!(await Deno.stat(options.jarPath)).isFile) throw new Error("not a file");
  } catch {
    throw new ConfigError(
      "spice.jarPath",
      `SPICE jar not found at "${options.jarPath}": download SPICE 1.0 (spice-1.0.jar with its lib/ folder) and give its path, or set spice to null to reward with CIDEr-D alone`,
    );
  }
  if (options.cacheDir) await Deno.mkdir(options.cacheDir, { recursive: true });
  const tmp = await Deno.makeTempDir({ prefix: "rlgf_spice_" });
  try {
    const inFile = `${tmp}/input.json`;
    const outFile = `${tmp}/output.json`;
    const input = candidates.map((test, i) => ({ image_id: i, test, refs: references[i] }));
    await Deno.writeTextFile(inFile, JSON.stringify(input, null, 2));
    const args = ["-jar", `-Xmx${options.maxHeap ?? "8G"}`, options.jarPath, inFile];
    if (options.cacheDir) args.push("-cache", options.cacheDir);
    args.push("-out", outFile, "-subset", "-silent");
    let out: Deno.CommandOutput;
    try {
      out = await new Deno.Command(javaPath, { args, stdout: "piped", stderr: "piped" }).output();
    } catch (e) {
      if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.PermissionDenied) {
        throw new ConfigError(
          "spice.javaPath",
          `Java executable "${javaPath}" could not be run (${e.name}): install Java 8 or later, or give its path`,
        );
      }
      throw e;
    }
    if (!out.success) {
      const stderr = new TextDecoder().decode(out.stderr).slice(-2000);
      throw new Error(`SPICE jar exited with code ${out.code}: ${stderr}`);
    }
    return parseSpiceOutput(await Deno.readTextFile(outFile), candidates.length, outFile);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

/** Reads a number as Python's float() would; anything else (null, "NaN") is NaN. */
function toNumber(v: unknown): number {
  if (typeof v === "number") return v;
  if (typeof v === "string" && v.trim() !== "" && !Number.isNaN(Number(v))) return Number(v);
  return NaN;
}

/**
 * Parses the jar's output JSON: a list of `{image_id, scores: {All: {f, pr, re, ...}, ...}}`.
 *
 * @param text the output file's text
 * @param items how many items were scored (image ids 0..items-1)
 * @param where the file name for error messages
 * @returns mean and per-item SPICE
 */
export function parseSpiceOutput(text: string, items: number, where: string): SpiceResult {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new InputError(`Expected JSON from the SPICE jar (${(e as Error).message})`, where);
  }
  if (!Array.isArray(data)) throw new InputError("Expected a JSON list of results", where);
  const details: (Record<string, Record<string, number>> | undefined)[] = new Array(items);
  data.forEach((entry, k) => {
    const id = entry?.image_id;
    const scores = entry?.scores;
    if (typeof id !== "number" || id < 0 || id >= items || !Number.isInteger(id)) {
      throw new InputError(
        `Expected an image_id in 0..${items - 1}, got ${JSON.stringify(id)}`,
        `${where}[${k}].image_id`,
      );
    }
    if (typeof scores !== "object" || scores === null || typeof scores.All !== "object") {
      throw new InputError("Expected scores with an All category", `${where}[${k}].scores`);
    }
    const set: Record<string, Record<string, number>> = {};
    for (const [cat, tuple] of Object.entries(scores as Record<string, Record<string, unknown>>)) {
      set[cat] = Object.fromEntries(
        Object.entries(tuple ?? {}).map(([key, v]) => [key, toNumber(v)]),
      );
    }
    details[id] = set;
  });
  const missing = details.findIndex((d) => d === undefined);
  if (missing >= 0 || details.length !== items) {
    throw new InputError(`Expected a result for image_id ${missing}`, where);
  }
  const full = details as Record<string, Record<string, number>>[];
  const perItem = full.map((d) => d.All.f ?? NaN);
  const corpus = perItem.length === 0 ? NaN : perItem.reduce((a, b) => a + b, 0) / perItem.length;
  return { corpus, perItem, details: full };
}

/**
 * CommonGen (Lin et al. 2020): rows of (concept set, target) grouped into concept sets with pooled
 * references, from our JSONL files or Hugging Face's `common_gen` parquet / JSON exports.
 * @module
 */
import { InputError } from "../core/errors.ts";
import { exists } from "../core/fs.ts";
import { readJsonl, requireField } from "./jsonl.ts";
import { readParquetRows } from "./parquet.ts";

/** One concept set with its pooled references. */
export interface ConceptSet {
  /** `concept_set_idx` of the source rows. */
  index: number;
  /** The concepts, in source order. */
  concepts: string[];
  /** All non-empty targets of the set, in file order. */
  references: string[];
  /** Where the set's first row is (`file:line` or `file row N`). */
  where: string;
}

/** The splits as Hugging Face names them. */
export type CommonGenSplit = "train" | "validation" | "test";

/** Options of {@linkcode readCommonGen}. */
export interface CommonGenReadOptions {
  /**
   * Whether every concept set must have a reference. Train and validation need them; the public
   * v1.1 test split has empty targets. @default true
   */
  requireReferences?: boolean;
}

interface Row {
  index: number;
  concepts: string[];
  target: string;
  where: string;
}

/**
 * Loads one split from a data folder: `<dir>/commongen/<split>.jsonl`, `<dir>/<split>.jsonl`,
 * `<split>.json`, or Hugging Face parquet files named `<split>-*.parquet` (also under `data/`,
 * `default/` or `default/<split>/`).
 * @param dataDir the data root, or the commongen folder itself
 * @param split which split
 * @param options reference checks (default: required, except for `test`)
 * @returns the concept sets in order of first appearance
 */
export async function loadCommonGenSplit(
  dataDir: string,
  split: CommonGenSplit,
  options: CommonGenReadOptions = { requireReferences: split !== "test" },
): Promise<ConceptSet[]> {
  for (const dir of [`${dataDir}/commongen`, `${dataDir}/common_gen`, dataDir]) {
    for (const name of [`${split}.jsonl`, `${split}.jsonl.gz`, `${split}.json`]) {
      if (await exists(`${dir}/${name}`)) return await readCommonGen(`${dir}/${name}`, options);
    }
    const parquet = await findSplitParquet(dir, split);
    if (parquet.length > 0) return await readCommonGen(parquet, options);
  }
  throw new InputError(
    `No CommonGen ${split} data found: expected ${split}.jsonl or ${split}-*.parquet under it ` +
      `or its commongen/ folder`,
    dataDir,
  );
}

/**
 * Reads CommonGen rows `{"concept_set_idx": int, "concepts": [str], "target": str}` from JSONL,
 * a JSON array, or parquet files, and groups them by `concept_set_idx`.
 * @param paths one file or several (e.g. parquet shards), read in order
 * @param options reference checks
 * @returns the concept sets in order of first appearance
 */
export async function readCommonGen(
  paths: string | string[],
  options: CommonGenReadOptions = {},
): Promise<ConceptSet[]> {
  const requireReferences = options.requireReferences ?? true;
  const rows: Row[] = [];
  for (const path of typeof paths === "string" ? [paths] : paths) {
    if (path.endsWith(".parquet")) {
      const table = await readParquetRows(path, {
        concept_set_idx: "integer",
        concepts: "string[]",
        target: "string",
      });
      table.forEach((row, i) => rows.push(toRow(row, `${path} row ${i + 1}`)));
    } else if (path.endsWith(".json") && await startsWithBracket(path)) {
      const array = JSON.parse(await Deno.readTextFile(path));
      if (!Array.isArray(array)) throw new InputError("Expected a JSON array of rows", path);
      array.forEach((row, i) => rows.push(toRow(row, `${path} item ${i}`)));
    } else {
      for await (const { value, where } of readJsonl(path)) rows.push(toRow(value, where));
    }
  }
  const sets = new Map<number, ConceptSet>();
  for (const row of rows) {
    let set = sets.get(row.index);
    if (!set) {
      set = { index: row.index, concepts: row.concepts, references: [], where: row.where };
      sets.set(row.index, set);
    } else if (set.concepts.join(" ") !== row.concepts.join(" ")) {
      throw new InputError(
        `Field "concepts" ${JSON.stringify(row.concepts)} differs from ` +
          `${
            JSON.stringify(set.concepts)
          } of the same concept_set_idx ${row.index} at ${set.where}`,
        row.where,
      );
    }
    if (row.target.trim() !== "") set.references.push(row.target);
  }
  if (requireReferences) {
    for (const set of sets.values()) {
      if (set.references.length === 0) {
        throw new InputError(
          `Field "target": concept set ${set.index} (${set.concepts.join(" ")}) has no reference`,
          set.where,
        );
      }
    }
  }
  return [...sets.values()];
}

/**
 * The spec's CommonGen prompt: "generate a sentence with: " + concepts joined by spaces + ".".
 * @param concepts the concept set
 * @returns the prompt text
 */
export function commonGenPrompt(concepts: string[]): string {
  return `${PROMPT_HEAD}${concepts.join(" ")}.`;
}

const PROMPT_HEAD = "generate a sentence with: ";

/**
 * The concepts of a prompt {@linkcode commonGenPrompt} wrote (its inverse), or null for a prompt
 * of another form.
 * @param prompt a prompt text
 * @returns the concepts, or null
 */
export function commonGenConcepts(prompt: string): string[] | null {
  if (!prompt.startsWith(PROMPT_HEAD) || !prompt.endsWith(".")) return null;
  const concepts = prompt.slice(PROMPT_HEAD.length, -1).split(" ").filter((c) => c !== "");
  return concepts.length > 0 ? concepts : null;
}

function toRow(value: unknown, where: string): Row {
  const index = Number(requireField(value, "concept_set_idx", "integer", where));
  const concepts = requireField(value, "concepts", "string[]", where);
  const target = requireField(value, "target", "string", where);
  if (concepts.length === 0) throw new InputError(`Field "concepts" is empty`, where);
  return { index, concepts, target, where };
}

async function startsWithBracket(path: string): Promise<boolean> {
  const file = await Deno.open(path);
  try {
    const buffer = new Uint8Array(64);
    const n = await file.read(buffer) ?? 0;
    return new TextDecoder().decode(buffer.subarray(0, n)).trimStart().startsWith("[");
  } finally {
    file.close();
  }
}

async function findSplitParquet(dir: string, split: string): Promise<string[]> {
  const found: string[] = [];
  for (const sub of ["", "/data", "/default", `/default/${split}`]) {
    try {
      for await (const entry of Deno.readDir(`${dir}${sub}`)) {
        const name = entry.name;
        const match = sub.endsWith(`/${split}`) || name.startsWith(`${split}-`);
        if (entry.isFile && match && name.endsWith(".parquet")) found.push(`${dir}${sub}/${name}`);
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  return found.sort();
}

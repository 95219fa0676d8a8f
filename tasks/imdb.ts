/**
 * The IMDB review data (aclImdb, Maas et al. 2011) in its three common layouts, and the spec's
 * prompt construction ("Tasks" in algorithms.md).
 *
 * Layouts understood under a data folder (the folder itself, or its `imdb/` or `aclImdb/` child):
 * - JSONL: `train.jsonl[.gz]`, `test.jsonl[.gz]` with `{"text", "label"}` (optional `*.ids.txt`);
 * - the original archive: `train/pos/<id>_<rating>.txt`, `train/neg/...`, `test/...`;
 * - Hugging Face parquet: `plain_text/train-*.parquet` (columns `text`, `label`).
 * @module
 */
import { InputError } from "../core/errors.ts";
import type { Tokenizer } from "../models/types.ts";
import { readJsonl, requireField } from "./jsonl.ts";
import { readParquetRows } from "./parquet.ts";
import { exists } from "../core/fs.ts";

/** One labelled review. */
export interface ImdbReview {
  /** The original file name without extension (`pos/123_8`), or `<split>-<row>` when unknown. */
  id: string;
  /** The review as stored in the source, markup such as `<br />` included. */
  text: string;
  /** 1 = positive (rating >= 7), 0 = negative (rating <= 4). */
  label: 0 | 1;
  /** Where the review came from (`file:line`, `file row N` or the review's file). */
  where: string;
}

/** The labelled splits of the original release. */
export type ImdbSplit = "train" | "test";

/**
 * Loads one split of IMDB from a data folder, whatever its layout.
 * @param dataDir the data root (e.g. `../shared/data`), its `imdb/` folder, or an aclImdb folder
 * @param split `train` or `test`
 * @returns the reviews in file order (for JSONL and folders: negatives, then positives, by id)
 */
export async function loadImdbSplit(dataDir: string, split: ImdbSplit): Promise<ImdbReview[]> {
  for (const dir of [`${dataDir}/imdb`, `${dataDir}/aclImdb`, dataDir]) {
    for (const name of [`${split}.jsonl.gz`, `${split}.jsonl`]) {
      if (await exists(`${dir}/${name}`)) return await readImdbJsonl(`${dir}/${name}`, split);
    }
    if (await exists(`${dir}/${split}/pos`)) return await readAclImdbFolder(dir, split);
    const parquet = await findParquet(`${dir}/plain_text`, split);
    if (parquet.length > 0) {
      const reviews: ImdbReview[] = [];
      for (const file of parquet) reviews.push(...await readImdbParquet(file, split));
      return reviews;
    }
  }
  throw new InputError(
    `No IMDB ${split} data found: expected ${split}.jsonl.gz, aclImdb/${split}/{pos,neg}/ or ` +
      `plain_text/${split}-*.parquet under it or its imdb/ folder`,
    dataDir,
  );
}

/**
 * The unlabelled reviews of the original release (`unsup/`, 50,000 reviews) when the data
 * folder has them: `unsup.jsonl[.gz]` with `{"text"}` per line, the archive's `train/unsup/`
 * or Hugging Face's `plain_text/unsupervised-*.parquet`. Base-model pretraining reads them
 * beside the train split.
 * @param dataDir the data root, its `imdb/` folder, or an aclImdb folder
 * @returns the review texts in file order, or an empty list when the folder has none
 */
export async function loadImdbUnlabelled(dataDir: string): Promise<string[]> {
  for (const dir of [`${dataDir}/imdb`, `${dataDir}/aclImdb`, dataDir]) {
    for (const name of ["unsup.jsonl.gz", "unsup.jsonl"]) {
      if (!await exists(`${dir}/${name}`)) continue;
      const texts: string[] = [];
      for await (const { value, where } of readJsonl(`${dir}/${name}`)) {
        const text = requireField(value, "text", "string", where);
        checkNotEmpty(text, where);
        texts.push(text);
      }
      return texts;
    }
    if (await exists(`${dir}/train/unsup`)) {
      const files: { id: number; path: string }[] = [];
      for await (const entry of Deno.readDir(`${dir}/train/unsup`)) {
        const match = /^(\d+)_\d+\.txt$/.exec(entry.name);
        if (entry.isFile && match) {
          files.push({ id: Number(match[1]), path: `${dir}/train/unsup/${entry.name}` });
        }
      }
      files.sort((a, b) => a.id - b.id);
      return await Promise.all(files.map((f) => Deno.readTextFile(f.path)));
    }
    const parquet = await findParquet(`${dir}/plain_text`, "unsupervised");
    if (parquet.length > 0) {
      const texts: string[] = [];
      for (const file of parquet) {
        const rows = await readParquetRows(file, { text: "string" });
        rows.forEach((row, i) =>
          texts.push(requireField(row, "text", "string", `${file} row ${i + 1}`))
        );
      }
      return texts;
    }
  }
  return [];
}

/**
 * Reads IMDB JSONL(.gz) with `{"text": string, "label": 0|1}` per line. When a sibling
 * `<split>.ids.txt` exists, line k names review k's original file.
 * @param path the JSONL file
 * @param split used for ids when no ids file exists
 * @returns the reviews in file order
 */
export async function readImdbJsonl(path: string, split: ImdbSplit): Promise<ImdbReview[]> {
  const idsPath = path.replace(/\.jsonl(\.gz)?$/, ".ids.txt");
  const ids = await exists(idsPath)
    ? (await Deno.readTextFile(idsPath)).split("\n").filter((l) => l.trim() !== "")
    : null;
  const reviews: ImdbReview[] = [];
  for await (const { value, line, where } of readJsonl(path)) {
    const text = requireField(value, "text", "string", where);
    const label = checkLabel(requireField(value, "label", "integer", where), where);
    checkNotEmpty(text, where);
    reviews.push({ id: ids?.[reviews.length] ?? `${split}-${line}`, text, label, where });
  }
  if (ids && ids.length !== reviews.length) {
    throw new InputError(
      `Has ${ids.length} ids but ${path} has ${reviews.length} reviews`,
      idsPath,
    );
  }
  return reviews;
}

/**
 * Reads the original aclImdb folder layout: `<root>/<split>/{neg,pos}/<id>_<rating>.txt`.
 * @param root the `aclImdb` folder
 * @param split `train` or `test`
 * @returns negatives then positives, each sorted by numeric id
 */
export async function readAclImdbFolder(root: string, split: ImdbSplit): Promise<ImdbReview[]> {
  const reviews: ImdbReview[] = [];
  for (const [sub, label] of [["neg", 0], ["pos", 1]] as const) {
    const dir = `${root}/${split}/${sub}`;
    const files: { id: number; name: string }[] = [];
    for await (const entry of Deno.readDir(dir)) {
      const match = /^(\d+)_(\d+)\.txt$/.exec(entry.name);
      if (!entry.isFile || !match) continue;
      files.push({ id: Number(match[1]), name: entry.name });
    }
    files.sort((a, b) => a.id - b.id);
    for (const { name } of files) {
      const path = `${dir}/${name}`;
      const text = await Deno.readTextFile(path);
      checkNotEmpty(text, path);
      reviews.push({ id: `${sub}/${name.slice(0, -4)}`, text, label, where: path });
    }
  }
  return reviews;
}

/**
 * Reads a Hugging Face `imdb` parquet file (columns `text`: string, `label`: integer 0/1).
 * @param path the parquet file
 * @param split used for ids
 * @returns the reviews in row order
 */
export async function readImdbParquet(path: string, split: ImdbSplit): Promise<ImdbReview[]> {
  const rows = await readParquetRows(path, { text: "string", label: "integer" });
  return rows.map((row, i) => {
    const where = `${path} row ${i + 1}`;
    const text = requireField(row, "text", "string", where);
    const label = checkLabel(Number(requireField(row, "label", "integer", where)), where);
    checkNotEmpty(text, where);
    return { id: `${split}-${i}`, text, label, where };
  });
}

/** A review cut into the spec's prompt and reference. */
export interface ImdbPrompt {
  /** The first half of the review's whitespace words, left-truncated to `maxPromptTokens`. */
  prompt: string;
  /** The second half of the words, with the space that joins it to the prompt (it continues the prompt). */
  reference: string;
}

/**
 * Builds the spec's prompt: the first half (floor) of the review's whitespace-separated words,
 * joined by single spaces, then left-truncated (the last `maxPromptTokens` tokens kept) by the
 * policy's tokenizer. The reference is the remaining words, led by the joining space.
 * @param review the review
 * @param tokenizer the policy's tokenizer
 * @param maxPromptTokens the spec's 64
 * @returns prompt and reference text
 */
export function imdbPrompt(
  review: ImdbReview,
  tokenizer: Tokenizer,
  maxPromptTokens = 64,
): ImdbPrompt {
  const words = review.text.split(/\s+/).filter((w) => w !== "");
  if (words.length < 2) {
    throw new InputError(
      `Field "text" needs at least 2 words to make a prompt and a reference, got ${words.length}`,
      review.where,
    );
  }
  const half = Math.floor(words.length / 2);
  let prompt = words.slice(0, half).join(" ");
  const ids = tokenizer.encode(prompt);
  if (ids.length > maxPromptTokens) prompt = tokenizer.decode(ids.slice(-maxPromptTokens));
  // The leading space: a policy continuing the prompt writes it, so teacher forcing must too.
  return { prompt, reference: " " + words.slice(half).join(" ") };
}

function checkLabel(label: number, where: string): 0 | 1 {
  if (label !== 0 && label !== 1) {
    throw new InputError(`Field "label" must be 0 or 1, got ${label}`, where);
  }
  return label;
}

function checkNotEmpty(text: string, where: string): void {
  if (text.trim() === "") throw new InputError(`Field "text" is an empty review`, where);
}

async function findParquet(dir: string, split: string): Promise<string[]> {
  const found: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile && entry.name.startsWith(`${split}-`) && entry.name.endsWith(".parquet")) {
        found.push(`${dir}/${entry.name}`);
      }
      if (entry.isDirectory && entry.name === split) {
        for await (const inner of Deno.readDir(`${dir}/${split}`)) {
          if (inner.isFile && inner.name.endsWith(".parquet")) {
            found.push(`${dir}/${split}/${inner.name}`);
          }
        }
      }
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  return found.sort();
}

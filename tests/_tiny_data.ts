/**
 * Tiny task data for the preset tests: an IMDB folder of 12-word reviews over a 9-word
 * vocabulary, and a private preset cache (RLGF_CACHE_DIR) that is put back afterwards.
 * @module
 */
const WORDS = ["great", "awful", "film", "plot", "acting", "loved", "boring", "story", "cast"];

/** Writes `dataDir/imdb/{train,test}.jsonl`: reviews i and 100 + i, labels alternating. */
export async function writeTinyImdb(
  dataDir: string,
  counts: { train?: number; test?: number } = {},
): Promise<void> {
  const review = (i: number) => {
    const words = Array.from({ length: 12 }, (_, k) => WORDS[(i * 7 + k * 3) % WORDS.length]);
    return JSON.stringify({ text: `The ${words.join(" ")}.`, label: i % 2 }) + "\n";
  };
  const rows = (n: number, from: number) => Array.from({ length: n }, (_, i) => review(i + from));
  await Deno.mkdir(`${dataDir}/imdb`, { recursive: true });
  await Deno.writeTextFile(`${dataDir}/imdb/train.jsonl`, rows(counts.train ?? 20, 0).join(""));
  await Deno.writeTextFile(`${dataDir}/imdb/test.jsonl`, rows(counts.test ?? 10, 100).join(""));
}

/** Points RLGF_CACHE_DIR at `dir`; the returned function puts the previous value back. */
export function privateCache(dir: string): () => void {
  const previous = Deno.env.get("RLGF_CACHE_DIR");
  Deno.env.set("RLGF_CACHE_DIR", dir);
  return () => {
    if (previous === undefined) Deno.env.delete("RLGF_CACHE_DIR");
    else Deno.env.set("RLGF_CACHE_DIR", previous);
  };
}

/** A temp folder with the tiny IMDB data (20 train, 10 test reviews) and a private cache. */
export function tinyImdb(): Promise<{ dataDir: string; cleanup(): Promise<void> }> {
  return tinyData("imdb", (dataDir) => writeTinyImdb(dataDir));
}

/**
 * A temp folder whose `data/` `write` fills, and a private cache, until `cleanup`.
 * @param name names the folder
 * @param write writes the task's files under the data folder
 */
export async function tinyData(
  name: string,
  write: (dataDir: string) => Promise<void>,
): Promise<{ dataDir: string; cleanup(): Promise<void> }> {
  const root = await Deno.makeTempDir({ prefix: `rlgf-${name}-` });
  await write(`${root}/data`);
  const restore = privateCache(`${root}/cache`);
  return {
    dataDir: `${root}/data`,
    async cleanup() {
      restore();
      await Deno.remove(root, { recursive: true });
    },
  };
}

/**
 * A tiny IMDB data folder for the preset tests (20 train and 10 test reviews of a 9-word
 * vocabulary) with a private preset cache (RLGF_CACHE_DIR), removed by `cleanup`.
 * @module
 */
const WORDS = ["great", "awful", "film", "plot", "acting", "loved", "boring", "story", "cast"];

/** Makes the folder and points RLGF_CACHE_DIR at a private cache until `cleanup`. */
export async function tinyImdb(): Promise<{ dataDir: string; cleanup(): Promise<void> }> {
  const root = await Deno.makeTempDir({ prefix: "rlgf-imdb-" });
  const review = (i: number) => {
    const words = Array.from({ length: 12 }, (_, k) => WORDS[(i * 7 + k * 3) % WORDS.length]);
    return JSON.stringify({ text: `The ${words.join(" ")}.`, label: i % 2 }) + "\n";
  };
  await Deno.mkdir(`${root}/data/imdb`, { recursive: true });
  await Deno.writeTextFile(
    `${root}/data/imdb/train.jsonl`,
    Array.from({ length: 20 }, (_, i) => review(i)).join(""),
  );
  await Deno.writeTextFile(
    `${root}/data/imdb/test.jsonl`,
    Array.from({ length: 10 }, (_, i) => review(i + 100)).join(""),
  );
  const previous = Deno.env.get("RLGF_CACHE_DIR");
  Deno.env.set("RLGF_CACHE_DIR", `${root}/cache`);
  return {
    dataDir: `${root}/data`,
    async cleanup() {
      if (previous === undefined) Deno.env.delete("RLGF_CACHE_DIR");
      else Deno.env.set("RLGF_CACHE_DIR", previous);
      await Deno.remove(root, { recursive: true });
    },
  };
}

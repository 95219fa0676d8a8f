import assert from "node:assert/strict";
import { readRunCache, recordRunCache, RUN_CACHE_FILE, useRunCache } from "./run_cache.ts";

Deno.test("a run records its cache folder, and useRunCache() points RLGF_CACHE_DIR back at it", async () => {
  const dir = await Deno.makeTempDir();
  const previous = Deno.env.get("RLGF_CACHE_DIR");
  try {
    assert.equal(await readRunCache(dir), null); // a run from before cache.json
    Deno.env.set("RLGF_CACHE_DIR", `${dir}/cache-of-training`);
    await recordRunCache(dir);
    assert.equal(await readRunCache(dir), `${dir}/cache-of-training`);
    Deno.env.set("RLGF_CACHE_DIR", `${dir}/another`);
    const cache = await useRunCache(dir);
    assert.deepEqual(
      { dir: cache.cacheDir, recorded: cache.recorded, present: cache.present },
      { dir: `${dir}/cache-of-training`, recorded: true, present: false },
    );
    assert.equal(Deno.env.get("RLGF_CACHE_DIR"), `${dir}/cache-of-training`);
    cache.restore();
    assert.equal(Deno.env.get("RLGF_CACHE_DIR"), `${dir}/another`);
    await Deno.writeTextFile(`${dir}/${RUN_CACHE_FILE}`, "{}");
    await assert.rejects(readRunCache(dir), /cache\.json: expected \{ "cacheDir": "<folder>" \}/);
  } finally {
    if (previous === undefined) Deno.env.delete("RLGF_CACHE_DIR");
    else Deno.env.set("RLGF_CACHE_DIR", previous);
    await Deno.remove(dir, { recursive: true });
  }
});

import assert from "node:assert/strict";
import { DATA_DIR_ENV, resolveDataDir } from "./data_dir.ts";

Deno.test("resolveDataDir() prefers the flag, then RLGF_DATA_DIR, else nothing", () => {
  const saved = Deno.env.get(DATA_DIR_ENV);
  try {
    Deno.env.delete(DATA_DIR_ENV);
    assert.equal(resolveDataDir(), undefined);
    assert.equal(resolveDataDir("/data/"), "/data");
    Deno.env.set(DATA_DIR_ENV, "/from/env/");
    assert.equal(resolveDataDir(), "/from/env");
    assert.equal(resolveDataDir("/flag"), "/flag");
    assert.equal(resolveDataDir(""), "/from/env");
  } finally {
    if (saved === undefined) Deno.env.delete(DATA_DIR_ENV);
    else Deno.env.set(DATA_DIR_ENV, saved);
  }
});

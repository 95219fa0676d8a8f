import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { createRequire } from "node:module";
import { type BackendName, initBackend } from "./backend.ts";

Deno.test("initBackend() selects wasm by default and cpu on request", async () => {
  const saved = Deno.env.get("RLGF_BACKEND");
  Deno.env.delete("RLGF_BACKEND");
  try {
    assert.equal(await initBackend(), "wasm");
    assert.equal(tf.getBackend(), "wasm");
    assert.equal(await initBackend("cpu"), "cpu");
    assert.equal(tf.getBackend(), "cpu");
    Deno.env.set("RLGF_BACKEND", "wasm");
    assert.equal(await initBackend(), "wasm");
  } finally {
    if (saved === undefined) Deno.env.delete("RLGF_BACKEND");
    else Deno.env.set("RLGF_BACKEND", saved);
  }
});

Deno.test("initBackend() rejects unknown names, from the argument or RLGF_BACKEND", async () => {
  await assert.rejects(initBackend("gpu" as BackendName), /Unknown backend "gpu"/);
  const saved = Deno.env.get("RLGF_BACKEND");
  Deno.env.set("RLGF_BACKEND", "webgl");
  try {
    await assert.rejects(
      initBackend(),
      /RLGF_BACKEND must be one of wasm, cpu, tensorflow, got "webgl"/,
    );
  } finally {
    if (saved === undefined) Deno.env.delete("RLGF_BACKEND");
    else Deno.env.set("RLGF_BACKEND", saved);
  }
});

Deno.test("initBackend('tensorflow') explains that tfjs-node is missing, without fetching it", async () => {
  const lock = await Deno.readTextFile(new URL("../deno.lock", import.meta.url)).catch(() => "");
  const require = createRequire(import.meta.url);
  let installed = true;
  try {
    require.resolve("@tensorflow/tfjs-node");
  } catch {
    installed = false;
  }
  if (installed) return; // nothing to check where tfjs-node exists
  await assert.rejects(initBackend("tensorflow"), /needs @tensorflow\/tfjs-node in node_modules/);
  const after = await Deno.readTextFile(new URL("../deno.lock", import.meta.url)).catch(() => "");
  assert.equal(after.includes("tfjs-node"), lock.includes("tfjs-node"));
});

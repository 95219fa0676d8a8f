import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { createRequire } from "node:module";
import { type BackendName, ensureBackend, initBackend } from "./backend.ts";

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

async function runFirstCall(script: string, dir: string): Promise<string> {
  const root = new URL("../", import.meta.url);
  const file = `${dir}/first_call_${crypto.randomUUID()}.ts`;
  await Deno.writeTextFile(file, script);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", new URL("deno.json", root).pathname, file, dir],
    cwd: root.pathname,
    env: { RLGF_BACKEND: "" },
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  assert.doesNotMatch(stderr, /has not yet been initialized/);
  return new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!;
}

Deno.test("loadCausalLM() and loadValueModel() work as a program's first call", async () => {
  const mod = new URL("../mod.ts", import.meta.url).href;
  const dir = await Deno.makeTempDir();
  try {
    const first = await runFirstCall(
      `import { createValueModel, loadCausalLM, Rng, saveValueModel } from "${mod}";
const model = await loadCausalLM("tests/fixtures/tiny-gpt2");
const [tokens] = await model.generate([[1, 2]], { maxNewTokens: 2, eosTokenId: null });
await saveValueModel(createValueModel(model, new Rng(0)), Deno.args[0] + "/critic");
console.log(JSON.stringify({ tokens: tokens.length }));`,
      dir,
    );
    assert.deepEqual(JSON.parse(first), { tokens: 2 });
    const second = await runFirstCall(
      `import { loadValueModel } from "${mod}";
import * as tf from "@tensorflow/tfjs-core";
const value = await loadValueModel(Deno.args[0] + "/critic");
console.log(JSON.stringify({ nEmbd: value.trunk.config.nEmbd, backend: tf.getBackend() }));`,
      dir,
    );
    const parsed = JSON.parse(second);
    assert.equal(parsed.backend, "wasm");
    assert.equal(typeof parsed.nEmbd, "number");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ensureBackend() keeps a backend chosen before it", async () => {
  await initBackend("cpu");
  assert.equal(await ensureBackend(), "cpu");
  assert.equal(tf.getBackend(), "cpu");
  await initBackend("wasm");
  assert.equal(await ensureBackend(), "wasm");
});

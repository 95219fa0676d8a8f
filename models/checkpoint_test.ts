import assert from "node:assert/strict";
import { initBackend } from "./backend.ts";
import { loadCausalLM, saveCausalLM } from "./checkpoint.ts";
import { createGPT2, type GPT2LM } from "./gpt2.ts";
import { type HostTensor, readSafetensors, writeSafetensors } from "./safetensors.ts";
import { Rng } from "../core/prng.ts";

await initBackend();
const FIXTURE = new URL("../tests/fixtures/tiny-gpt2", import.meta.url).pathname;
const TINY = { vocabSize: 40, nPositions: 16, nEmbd: 8, nLayer: 2, nHead: 2 };

async function withDir(f: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await f(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function sameWeights(a: GPT2LM, b: GPT2LM): Promise<void> {
  const ha = await a.toHost();
  const hb = await b.toHost();
  assert.deepEqual([...ha.keys()], [...hb.keys()]);
  for (const [name, t] of ha) {
    assert.deepEqual(hb.get(name)!.shape, t.shape, name);
    assert.deepEqual(
      new Uint8Array(hb.get(name)!.data.buffer),
      new Uint8Array(t.data.buffer),
      name,
    );
  }
}

Deno.test("saveCausalLM() then loadCausalLM() round-trips the fixture bit-identically", async () => {
  await withDir(async (dir) => {
    const model = await loadCausalLM(FIXTURE);
    await saveCausalLM(model, dir);
    const back = await loadCausalLM(dir);
    await sameWeights(model, back);
    assert.deepEqual(back.config, model.config);
    assert.deepEqual(await back.logits([[464, 2068]]), await model.logits([[464, 2068]]));
    // Hugging Face layout: prefixed keys, no lm_head (tied), tokenizer files alongside
    const saved = await readSafetensors(`${dir}/model.safetensors`);
    assert.ok([...saved.keys()].every((k) => k.startsWith("transformer.")));
    const config = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
    assert.equal(config.model_type, "gpt2");
    assert.equal(config.n_embd, 64);
    assert.deepEqual(back.tokenizer!.encode("The quick"), model.tokenizer!.encode("The quick"));
    // the original file's float32 tensors come back unchanged
    const original = await readSafetensors(`${FIXTURE}/model.safetensors`);
    for (const [name, t] of original) {
      assert.deepEqual(new Uint8Array(saved.get(name)!.data.buffer), new Uint8Array(t.data.buffer));
    }
    model.dispose();
    back.dispose();
  });
});

Deno.test("loadCausalLM() accepts unprefixed keys, ignores attention buffers, and reads shards", async () => {
  await withDir(async (dir) => {
    const model = createGPT2(TINY, new Rng(1));
    await saveCausalLM(model, dir);
    // rewrite as two unprefixed shards plus the buffers HF checkpoints carry
    const host = await model.toHost();
    const names = [...host.keys()];
    const shardA = new Map<string, HostTensor>(names.slice(0, 5).map((n) => [n, host.get(n)!]));
    const shardB = new Map<string, HostTensor>(names.slice(5).map((n) => [n, host.get(n)!]));
    shardB.set("h.0.attn.bias", { shape: [1, 1, 16, 16], data: new Float32Array(256).fill(1) });
    shardB.set("h.1.attn.masked_bias", { shape: [], data: Float32Array.from([-1e4]) });
    await writeSafetensors(`${dir}/a.safetensors`, shardA);
    await writeSafetensors(`${dir}/b.safetensors`, shardB);
    const weightMap: Record<string, string> = {};
    for (const n of shardA.keys()) weightMap[n] = "a.safetensors";
    for (const n of shardB.keys()) weightMap[n] = "b.safetensors";
    await Deno.writeTextFile(
      `${dir}/model.safetensors.index.json`,
      JSON.stringify({ weight_map: weightMap }),
    );
    await Deno.remove(`${dir}/model.safetensors`);
    const back = await loadCausalLM(dir);
    await sameWeights(model, back);
    model.dispose();
    back.dispose();
  });
});

Deno.test("loadCausalLM() reads a BF16 checkpoint as the float32 values it encodes", async () => {
  await withDir(async (dir) => {
    const model = createGPT2(TINY, new Rng(5));
    await saveCausalLM(model, dir);
    // re-encode every tensor as BF16 (the top 16 bits of each float32), header written by hand
    const host = await model.toHost();
    const header: Record<string, unknown> = {};
    const parts: Uint8Array[] = [];
    const truncated = new Map<string, Float32Array>();
    let offset = 0;
    for (const [name, t] of host) {
      const bits = new Uint32Array(t.data.buffer.slice(0));
      const half = Uint16Array.from(bits, (b) => b >>> 16);
      truncated.set(name, new Float32Array(Uint32Array.from(half, (h) => h << 16).buffer));
      header[`transformer.${name}`] = {
        dtype: "BF16",
        shape: t.shape,
        data_offsets: [offset, offset + half.byteLength],
      };
      parts.push(new Uint8Array(half.buffer));
      offset += half.byteLength;
    }
    const json = new TextEncoder().encode(JSON.stringify(header));
    const file = new Uint8Array(8 + json.length + offset);
    new DataView(file.buffer).setBigUint64(0, BigInt(json.length), true);
    file.set(json, 8);
    let at = 8 + json.length;
    for (const p of parts) {
      file.set(p, at);
      at += p.length;
    }
    await Deno.writeFile(`${dir}/model.safetensors`, file);
    const back = await loadCausalLM(dir);
    for (const [name, t] of await back.toHost()) {
      assert.deepEqual(t.data, truncated.get(name), name);
    }
    model.dispose();
    back.dispose();
  });
});

Deno.test("loadCausalLM() names the folder when config.json is missing", async () => {
  await withDir(async (dir) => {
    await assert.rejects(
      loadCausalLM(dir),
      (e: Error) => e.message === `${dir}: Missing config.json`,
    );
  });
});

Deno.test("loadCausalLM() names config.json and model_type for an unknown model type", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify({ model_type: "llama" }));
    await assert.rejects(
      loadCausalLM(dir),
      (e: Error) =>
        e.message.startsWith(
          `${dir}/config.json: Field "model_type" is "llama", expected "gpt2"`,
        ) &&
        e.message.includes("loadPolicy"),
    );
  });
});

Deno.test("loadCausalLM() names config.json and the snake_case field for a bad value", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(
      `${dir}/config.json`,
      JSON.stringify({ model_type: "gpt2", n_embd: 10, n_head: 4 }),
    );
    await assert.rejects(
      loadCausalLM(dir),
      /config\.json: Field "n_embd" \(10\) must be divisible by Field "n_head"/,
    );
  });
});

Deno.test("loadCausalLM() names the file and tensor with the wrong shape", async () => {
  await withDir(async (dir) => {
    const model = createGPT2(TINY, new Rng(2));
    await saveCausalLM(model, dir);
    const host = await readSafetensors(`${dir}/model.safetensors`);
    const fc = host.get("transformer.h.1.mlp.c_fc.weight")!;
    host.set("transformer.h.1.mlp.c_fc.weight", { shape: [32, 8], data: new Float32Array(256) });
    await writeSafetensors(`${dir}/model.safetensors`, host);
    await assert.rejects(
      loadCausalLM(dir),
      (e: Error) =>
        e.message ===
          `${dir}/model.safetensors: Tensor "h.1.mlp.c_fc.weight" has shape [32,8], expected [8,32]`,
    );
    host.set("transformer.h.1.mlp.c_fc.weight", fc);
    host.delete("transformer.ln_f.bias");
    await writeSafetensors(`${dir}/model.safetensors`, host);
    await assert.rejects(loadCausalLM(dir), /model\.safetensors: Missing tensor "ln_f\.bias"/);
    model.dispose();
  });
});

Deno.test("loadCausalLM() names model.safetensors when its header is truncated or corrupt", async () => {
  await withDir(async (dir) => {
    const model = createGPT2(TINY, new Rng(3));
    await saveCausalLM(model, dir);
    const bytes = await Deno.readFile(`${dir}/model.safetensors`);
    await Deno.writeFile(`${dir}/model.safetensors`, bytes.subarray(0, 100));
    await assert.rejects(
      loadCausalLM(dir),
      new RegExp(`${dir}/model\\.safetensors: Truncated or corrupt`),
    );
    bytes.fill(0x20, 8, 40); // blank out the start of the JSON
    bytes[40] = 0x5d; // a stray "]"
    await Deno.writeFile(`${dir}/model.safetensors`, bytes);
    await assert.rejects(
      loadCausalLM(dir),
      new RegExp(`${dir}/model\\.safetensors: Corrupt safetensors header`),
    );
    model.dispose();
  });
});

Deno.test("loadCausalLM() rejects a tokenizer whose vocabulary does not fit the model's", async () => {
  await withDir(async (dir) => {
    const model = createGPT2(TINY, new Rng(4));
    await saveCausalLM(model, dir);
    for (const f of ["tokenizer.json", "tokenizer_config.json"]) {
      await Deno.copyFile(`${FIXTURE}/${f}`, `${dir}/${f}`);
    }
    await assert.rejects(
      loadCausalLM(dir),
      (e: Error) =>
        e.message.includes("tokenizer whose vocabulary does not fit the model's") &&
        e.message.includes(`${dir}/tokenizer.json has 50257 tokens`) &&
        e.message.includes(`${dir}/config.json has vocab_size 40`),
    );
    model.dispose();
  });
});

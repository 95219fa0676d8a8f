import assert from "node:assert/strict";
import {
  decodeSafetensors,
  encodeSafetensors,
  type HostTensor,
  readSafetensorsDir,
  safetensorsMetadata,
  writeSafetensors,
} from "./safetensors.ts";

/** A safetensors file assembled by hand: u64 header length, JSON header, data. */
function build(header: unknown, data: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function u16(values: number[]): Uint8Array {
  return new Uint8Array(Uint16Array.from(values).buffer);
}

Deno.test("decodeSafetensors() reads F16 bit patterns, subnormals and infinities included", () => {
  // IEEE half: 1, -2, 0.5, 65504 (max), 2^-24 (smallest subnormal), -0, +inf
  const bits = [0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x8000, 0x7c00];
  const file = build({ x: { dtype: "F16", shape: [7], data_offsets: [0, 14] } }, u16(bits));
  const x = decodeSafetensors(file, "half.safetensors").get("x")!;
  assert.deepEqual(Array.from(x.data), [1, -2, 0.5, 65504, 2 ** -24, -0, Infinity]);
  assert.deepEqual(x.shape, [7]);
});

Deno.test("decodeSafetensors() reads BF16 as the top half of a float32", () => {
  // bfloat16: 1, -2.5, 3.140625 (pi rounded), 1e-38-ish tiny normal 2^-126
  const bits = [0x3f80, 0xc020, 0x4049, 0x0080];
  const file = build(
    { __metadata__: { format: "pt" }, y: { dtype: "BF16", shape: [2, 2], data_offsets: [0, 8] } },
    u16(bits),
  );
  const y = decodeSafetensors(file, "b.safetensors").get("y")!;
  assert.deepEqual(Array.from(y.data), [1, -2.5, 3.140625, 2 ** -126]);
  assert.deepEqual(y.shape, [2, 2]);
  assert.deepEqual(safetensorsMetadata(file, "b.safetensors"), { format: "pt" });
});

Deno.test("encodeSafetensors() writes F32 that decodes bit-identically, header padded to 8 bytes", () => {
  const tensors = new Map<string, HostTensor>([
    ["a", { shape: [2, 3], data: Float32Array.from([1.5, -0, NaN, 3e-45, 1e38, -7]) }],
    ["b", { shape: [], data: Float32Array.from([42]) }],
  ]);
  const bytes = encodeSafetensors(tensors, { format: "pt" });
  const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(headerLength % 8, 0);
  const back = decodeSafetensors(bytes, "x");
  for (const [name, t] of tensors) {
    assert.deepEqual(back.get(name)!.shape, t.shape);
    assert.deepEqual(new Uint8Array(back.get(name)!.data.buffer), new Uint8Array(t.data.buffer));
  }
});

Deno.test("decodeSafetensors() names the file for a truncated or corrupt header", () => {
  assert.throws(
    () => decodeSafetensors(new Uint8Array(5), "m.safetensors"),
    /m\.safetensors: Truncated/,
  );
  const good = build({ x: { dtype: "F32", shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4));
  assert.throws(
    () => decodeSafetensors(good.subarray(0, 20), "m.safetensors"),
    /m\.safetensors: Truncated or corrupt/,
  );
  const garbled = good.slice();
  garbled[9] = 0x7b; // "{{": not JSON
  assert.throws(
    () => decodeSafetensors(garbled, "m.safetensors"),
    /m\.safetensors: Corrupt safetensors header/,
  );
});

Deno.test("decodeSafetensors() names the tensor whose data or dtype is bad", () => {
  const short = build(
    { w: { dtype: "F32", shape: [4], data_offsets: [0, 16] } },
    new Uint8Array(8),
  );
  assert.throws(
    () => decodeSafetensors(short, "m.safetensors"),
    /m\.safetensors: tensor "w": Truncated data/,
  );
  const wrong = build({ w: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8));
  assert.throws(
    () => decodeSafetensors(wrong, "m.safetensors"),
    /tensor "w": data_offsets span 8 bytes/,
  );
  const ints = build({ i: { dtype: "I64", shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8));
  assert.throws(
    () => decodeSafetensors(ints, "m.safetensors"),
    /tensor "i": Unsupported dtype "I64"/,
  );
});

Deno.test("readSafetensorsDir() joins the shards of model.safetensors.index.json", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const a = { shape: [2], data: Float32Array.from([1, 2]) };
    const b = { shape: [1, 1], data: Float32Array.from([3]) };
    await writeSafetensors(`${dir}/model-00001-of-00002.safetensors`, new Map([["a", a]]));
    await writeSafetensors(`${dir}/model-00002-of-00002.safetensors`, new Map([["b", b]]));
    const index = {
      metadata: { total_size: 12 },
      weight_map: { a: "model-00001-of-00002.safetensors", b: "model-00002-of-00002.safetensors" },
    };
    await Deno.writeTextFile(`${dir}/model.safetensors.index.json`, JSON.stringify(index));
    const all = await readSafetensorsDir(dir);
    assert.deepEqual([...all.keys()].sort(), ["a", "b"]);
    assert.deepEqual(Array.from(all.get("b")!.data), [3]);
    index.weight_map = {
      ...index.weight_map,
      c: "model-00001-of-00002.safetensors",
    } as typeof index.weight_map;
    await Deno.writeTextFile(`${dir}/model.safetensors.index.json`, JSON.stringify(index));
    await assert.rejects(readSafetensorsDir(dir), /index\.json: Tensor "c" is listed for shard/);
    await Deno.remove(`${dir}/model.safetensors.index.json`);
    await assert.rejects(readSafetensorsDir(dir), /No model\.safetensors/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Reads and writes the safetensors format (an 8-byte little-endian header
 * length, a JSON header, then raw little-endian tensor bytes). F32, F16 and
 * BF16 tensors are read as Float32Array; tensors are written as F32. A
 * sharded checkpoint (`model.safetensors.index.json`) reads as one map.
 * @module
 */
import { exists } from "../core/fs.ts";
import { InputError } from "../core/errors.ts";
import { writeFileAtomic } from "../core/atomic.ts";

/** One tensor held on the host, row-major, as float32. */
export interface HostTensor {
  /** Dimensions, outermost first; `[]` for a scalar. */
  shape: number[];
  /** The values, row-major; its length is the product of `shape`. */
  data: Float32Array;
}

const DTYPE_BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };

/**
 * The `__metadata__` strings of a safetensors file (empty when absent).
 * @param bytes the file's contents
 * @param file the file name used in error messages
 * @returns the metadata
 */
export function safetensorsMetadata(bytes: Uint8Array, file: string): Record<string, string> {
  const metadata = parseHeader(bytes, file).header.__metadata__;
  return metadata && typeof metadata === "object" ? metadata as Record<string, string> : {};
}

function parseHeader(
  bytes: Uint8Array,
  file: string,
): { header: Record<string, unknown>; dataStart: number } {
  if (bytes.length < 8) {
    throw new InputError(
      `Truncated safetensors header: ${bytes.length} bytes, expected >= 8`,
      file,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > bytes.length - 8) {
    throw new InputError(
      `Truncated or corrupt safetensors header: it declares ${headerLength} header bytes ` +
        `but the file has ${bytes.length - 8} after the length`,
      file,
    );
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  } catch (error) {
    throw new InputError(`Corrupt safetensors header: ${(error as Error).message}`, file);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) {
    throw new InputError("Corrupt safetensors header: expected a JSON object", file);
  }
  return { header, dataStart: 8 + headerLength };
}

/**
 * Parses safetensors bytes into host tensors.
 * @param bytes the file's contents
 * @param file the file name used in error messages
 * @returns tensors by name, in header order
 */
export function decodeSafetensors(bytes: Uint8Array, file: string): Map<string, HostTensor> {
  const { header, dataStart } = parseHeader(bytes, file);
  const dataLength = bytes.length - dataStart;
  const tensors = new Map<string, HostTensor>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const where = `${file}: tensor "${name}"`;
    const { dtype, shape, data_offsets: offsets } = (entry ?? {}) as Record<string, unknown>;
    if (typeof dtype !== "string" || !(dtype in DTYPE_BYTES)) {
      throw new InputError(
        `Unsupported dtype ${JSON.stringify(dtype)}, expected F32, F16 or BF16`,
        where,
      );
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new InputError(`Bad shape ${JSON.stringify(shape)}`, where);
    }
    if (
      !Array.isArray(offsets) || offsets.length !== 2 ||
      !offsets.every((o) => Number.isInteger(o) && o >= 0)
    ) {
      throw new InputError(`Bad data_offsets ${JSON.stringify(offsets)}`, where);
    }
    const [begin, end] = offsets as [number, number];
    const count = shape.reduce((a: number, b: number) => a * b, 1);
    if (end - begin !== count * DTYPE_BYTES[dtype]) {
      throw new InputError(
        `data_offsets span ${end - begin} bytes, but ${dtype} ${JSON.stringify(shape)} needs ${
          count * DTYPE_BYTES[dtype]
        }`,
        where,
      );
    }
    if (end > dataLength) {
      throw new InputError(
        `Truncated data: the tensor ends at byte ${end} of a ${dataLength}-byte data section`,
        where,
      );
    }
    const raw = bytes.slice(dataStart + begin, dataStart + end); // copy: aligned and owned
    tensors.set(name, { shape: shape as number[], data: toFloat32(raw, dtype, count) });
  }
  return tensors;
}

function toFloat32(raw: Uint8Array, dtype: string, count: number): Float32Array {
  if (dtype === "F32") return new Float32Array(raw.buffer, 0, count);
  const halves = new Uint16Array(raw.buffer, 0, count);
  const out = new Float32Array(count);
  if (dtype === "BF16") {
    // bfloat16 is the top half of a float32
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < count; i++) bits[i] = halves[i] << 16;
    return out;
  }
  for (let i = 0; i < count; i++) out[i] = halfToFloat(halves[i]);
  return out;
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24; // subnormal
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/**
 * Serialises tensors as F32 safetensors (header padded to 8 bytes, as
 * Hugging Face writes it).
 * @param tensors tensors by name, written in this order
 * @param metadata optional string metadata stored under `__metadata__`
 * @returns the file's bytes
 */
export function encodeSafetensors(
  tensors: Map<string, HostTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of tensors) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) {
      throw new RangeError(
        `Tensor "${name}" has ${t.data.length} values but shape ${JSON.stringify(t.shape)}`,
      );
    }
    header[name] = { dtype: "F32", shape: t.shape, data_offsets: [offset, offset + count * 4] };
    offset += count * 4;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const t of tensors.values()) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

/**
 * Reads one safetensors file.
 * @param path the file
 * @returns tensors by name
 */
export async function readSafetensors(path: string): Promise<Map<string, HostTensor>> {
  return decodeSafetensors(await Deno.readFile(path), path);
}

/**
 * Writes tensors as one F32 safetensors file, atomically.
 * @param path the file
 * @param tensors tensors by name
 * @param metadata optional string metadata
 */
export async function writeSafetensors(
  path: string,
  tensors: Map<string, HostTensor>,
  metadata?: Record<string, string>,
): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

/**
 * Reads a checkpoint folder's weights: `model.safetensors`, or the shards
 * listed in `model.safetensors.index.json` (its `weight_map`).
 * @param dir the folder
 * @returns every tensor by name
 */
export async function readSafetensorsDir(dir: string): Promise<Map<string, HostTensor>> {
  const single = `${dir}/model.safetensors`;
  const index = `${dir}/model.safetensors.index.json`;
  if (await exists(single)) return await readSafetensors(single);
  if (!(await exists(index))) {
    throw new InputError("No model.safetensors or model.safetensors.index.json found", dir);
  }
  let weightMap: Record<string, string>;
  try {
    weightMap = JSON.parse(await Deno.readTextFile(index)).weight_map;
  } catch (error) {
    throw new InputError(`Unreadable index: ${(error as Error).message}`, index);
  }
  if (weightMap === null || typeof weightMap !== "object") {
    throw new InputError(`Field "weight_map" missing, expected an object`, index);
  }
  const all = new Map<string, HostTensor>();
  for (const shard of new Set(Object.values(weightMap))) {
    for (const [name, t] of await readSafetensors(`${dir}/${shard}`)) all.set(name, t);
  }
  for (const [name, shard] of Object.entries(weightMap)) {
    if (!all.has(name)) {
      throw new InputError(`Tensor "${name}" is listed for shard ${shard} but not in it`, index);
    }
  }
  return all;
}

/**
 * Reading Hugging Face parquet exports through the pure-JS `hyparquet`, with schema checks that
 * name the file and column.
 * @module
 */
import { parquetMetadata, parquetReadObjects, parquetSchema } from "hyparquet";
import { InputError } from "../core/errors.ts";

/** The column kinds {@linkcode readParquetRows} checks. */
export type ParquetColumnKind = "string" | "integer" | "string[]";

/**
 * Reads the named columns of a parquet file as row objects, checking the schema first.
 * @param path the parquet file
 * @param columns the required columns and their kinds
 * @returns one object per row with exactly those columns
 */
export async function readParquetRows(
  path: string,
  columns: Record<string, ParquetColumnKind>,
): Promise<Record<string, unknown>[]> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw new InputError("File not found", path);
    throw error;
  }
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  let metadata;
  try {
    metadata = parquetMetadata(buffer as ArrayBuffer);
  } catch (error) {
    throw new InputError(`Not a readable parquet file (${(error as Error).message})`, path);
  }
  const schema = parquetSchema(metadata);
  const present = new Map(schema.children.map((c) => [c.element.name, c]));
  for (const [name, kind] of Object.entries(columns)) {
    const column = present.get(name);
    if (!column) {
      throw new InputError(
        `Missing column "${name}" (expected ${kind}); columns are ${
          [...present.keys()].join(", ")
        }`,
        path,
      );
    }
    const type = columnKind(column);
    if (type !== kind) {
      throw new InputError(`Column "${name}" must be ${kind}, got ${type}`, path);
    }
  }
  const rows = await parquetReadObjects({
    file: buffer as ArrayBuffer,
    columns: Object.keys(columns),
  }) as Record<string, unknown>[];
  // INT64 columns decode to bigint; our records use plain numbers.
  for (const row of rows) {
    for (const name of Object.keys(columns)) {
      if (typeof row[name] === "bigint") row[name] = Number(row[name]);
    }
  }
  return rows;
}

interface SchemaNode {
  element: { type?: string; converted_type?: string; logical_type?: { type: string } };
  children: SchemaNode[];
}

/** Maps a parquet schema node to our coarse kinds, so the message says what was found. */
function columnKind(node: SchemaNode): string {
  const { type, converted_type: converted, logical_type: logical } = node.element;
  if (node.children.length > 0) {
    // A LIST group: <name> (LIST) -> list (repeated) -> element.
    let leaf = node;
    while (leaf.children.length > 0) leaf = leaf.children[0];
    return columnKind(leaf) === "string" ? "string[]" : `a list (${leaf.element.type ?? "group"})`;
  }
  if (type === "BYTE_ARRAY" && (converted === "UTF8" || logical?.type === "STRING")) {
    return "string";
  }
  if (type === "INT32" || type === "INT64") return "integer";
  return type ?? "unknown";
}

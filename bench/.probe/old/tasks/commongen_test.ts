import assert from "node:assert/strict";
import { parquetWriteBuffer } from "hyparquet-writer";
import { InputError } from "../core/errors.ts";
import { commonGenPrompt, loadCommonGenSplit, readCommonGen } from "./commongen.ts";

const rows = [
  {
    concept_set_idx: 0,
    concepts: ["ski", "mountain", "skier"],
    target: "Skier skis down the mountain",
  },
  { concept_set_idx: 0, concepts: ["ski", "mountain", "skier"], target: "A skier on a mountain." },
  {
    concept_set_idx: 1,
    concepts: ["dog", "frisbee", "catch"],
    target: "The dog catches a frisbee.",
  },
];

async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function jsonl(items: unknown[]): string {
  return items.map((r) => JSON.stringify(r)).join("\n") + "\n";
}

Deno.test("readCommonGen() groups rows by concept set and pools references", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/train.jsonl`, jsonl(rows));
    const sets = await readCommonGen(`${dir}/train.jsonl`);
    assert.deepEqual(sets.map((s) => [s.index, s.concepts, s.references, s.where]), [
      [0, ["ski", "mountain", "skier"], [rows[0].target, rows[1].target], `${dir}/train.jsonl:1`],
      [1, ["dog", "frisbee", "catch"], [rows[2].target], `${dir}/train.jsonl:3`],
    ]);
  });
});

Deno.test("commonGenPrompt() follows the spec's template", () => {
  assert.equal(
    commonGenPrompt(["ski", "mountain", "skier"]),
    "generate a sentence with: ski mountain skier.",
  );
});

Deno.test("loadCommonGenSplit() reads Hugging Face parquet and a JSON array alike", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(`${dir}/common_gen/data`, { recursive: true });
    const buffer = parquetWriteBuffer({
      columnData: [
        { name: "concept_set_idx", data: rows.map((r) => r.concept_set_idx) },
        { name: "concepts", data: rows.map((r) => r.concepts) },
        { name: "target", data: rows.map((r) => r.target) },
      ],
      // Hugging Face's layout: concepts as a 3-level LIST of UTF8 strings.
      schema: [
        { name: "root", num_children: 3 },
        { name: "concept_set_idx", type: "INT32", repetition_type: "REQUIRED" },
        { name: "concepts", repetition_type: "OPTIONAL", converted_type: "LIST", num_children: 1 },
        { name: "list", repetition_type: "REPEATED", num_children: 1 },
        {
          name: "element",
          type: "BYTE_ARRAY",
          converted_type: "UTF8",
          repetition_type: "OPTIONAL",
        },
        { name: "target", type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: "OPTIONAL" },
      ],
    });
    await Deno.writeFile(
      `${dir}/common_gen/data/validation-00000-of-00001.parquet`,
      new Uint8Array(buffer),
    );
    await Deno.writeTextFile(`${dir}/common_gen/train.json`, JSON.stringify(rows));
    const fromParquet = await loadCommonGenSplit(dir, "validation");
    const fromJson = await loadCommonGenSplit(dir, "train");
    for (const sets of [fromParquet, fromJson]) {
      assert.deepEqual(sets.map((s) => s.references.length), [2, 1]);
      assert.deepEqual(sets[1].concepts, ["dog", "frisbee", "catch"]);
    }
    assert.match(fromParquet[0].where, /validation-00000-of-00001\.parquet row 1$/);
  });
});

Deno.test("readCommonGen() rejects a concept set with no reference, naming file, line and field", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/train.jsonl`;
    await Deno.writeTextFile(path, jsonl([rows[0], { ...rows[2], target: " " }]));
    await assert.rejects(() => readCommonGen(path), {
      name: "InputError",
      message: `${path}:2: Field "target": concept set 1 (dog frisbee catch) has no reference`,
    });
    // The public test split has no references: allowed when asked.
    const sets = await readCommonGen(path, { requireReferences: false });
    assert.deepEqual(sets[1].references, []);
  });
});

Deno.test("readCommonGen() names a missing or mistyped field", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/bad.jsonl`;
    await Deno.writeTextFile(path, jsonl([rows[0], { concept_set_idx: 1, target: "x" }]));
    await assert.rejects(() => readCommonGen(path), {
      message: `${path}:2: Missing field "concepts" (expected string[])`,
    });
    await Deno.writeTextFile(path, jsonl([{ ...rows[0], concept_set_idx: "0" }]));
    await assert.rejects(() => readCommonGen(path), (e: Error) =>
      e instanceof InputError &&
      e.message === `${path}:1: Field "concept_set_idx" must be integer, got the string "0"`);
  });
});

Deno.test("readCommonGen() rejects a parquet file of the wrong schema, naming the column", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/train-0.parquet`;
    const buffer = parquetWriteBuffer({
      columnData: [
        { name: "concept_set_idx", data: [0], type: "INT32" },
        { name: "concepts", data: ["ski mountain"], type: "STRING" },
        { name: "target", data: ["x"], type: "STRING" },
      ],
    });
    await Deno.writeFile(path, new Uint8Array(buffer));
    await assert.rejects(() => readCommonGen(path), {
      message: `${path}: Column "concepts" must be string[], got string`,
    });
  });
});

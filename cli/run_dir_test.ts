import assert from "node:assert/strict";
import {
  appendJsonl,
  checkpointPath,
  listCheckpoints,
  prepareRunDir,
  readJsonl,
  truncateMetrics,
  writeCheckpoint,
} from "./run_dir.ts";

Deno.test("writeCheckpoint() keeps the last few complete checkpoints", async () => {
  const dir = await Deno.makeTempDir();
  await prepareRunDir(dir);
  for (const it of [1, 2, 3, 4]) {
    await writeCheckpoint(
      dir,
      it,
      (tmp) => Deno.writeTextFile(`${tmp}/state.json`, JSON.stringify({ it })),
      2,
    );
  }
  assert.deepEqual(await listCheckpoints(dir), [3, 4]);
  assert.deepEqual(JSON.parse(await Deno.readTextFile(`${checkpointPath(dir, 4)}/state.json`)), {
    it: 4,
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("writeCheckpoint() leaves no checkpoint when filling it fails", async () => {
  const dir = await Deno.makeTempDir();
  await prepareRunDir(dir);
  await assert.rejects(
    () => writeCheckpoint(dir, 5, () => Promise.reject(new Error("disk full"))),
    /disk full/,
  );
  assert.deepEqual(await listCheckpoints(dir), []);
  const leftovers = [...Deno.readDirSync(`${dir}/checkpoints`)];
  assert.equal(leftovers.length, 0);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("readJsonl() drops a torn last line and truncateMetrics() keeps earlier iterations", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/metrics.jsonl`;
  for (const iteration of [0, 1, 2]) await appendJsonl(path, { iteration });
  await Deno.writeTextFile(path, '{"iterat', { append: true });
  assert.deepEqual(await readJsonl(path), [{ iteration: 0 }, { iteration: 1 }, { iteration: 2 }]);
  await truncateMetrics(path, 2);
  assert.deepEqual(await readJsonl(path), [{ iteration: 0 }, { iteration: 1 }]);
  await Deno.writeTextFile(path, "{bad}\n{}\n");
  await assert.rejects(() => readJsonl(path), /metrics\.jsonl:1/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("prepareRunDir() names a folder it cannot write", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/file`, "");
  await assert.rejects(
    () => prepareRunDir(`${dir}/file/run`),
    (e: Error) => e.message.includes(`${dir}/file/run`),
  );
  await Deno.remove(dir, { recursive: true });
});

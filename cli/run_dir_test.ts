import assert from "node:assert/strict";
import {
  acquireRunLock,
  appendJsonl,
  checkpointPath,
  listCheckpoints,
  loadLatestCheckpoint,
  MANIFEST,
  prepareRunDir,
  processAlive,
  readJsonl,
  truncateMetrics,
  verifyCheckpoint,
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

const fillState = (it: number) => async (tmp: string) => {
  await Deno.writeTextFile(`${tmp}/state.json`, JSON.stringify({ it }));
  await Deno.mkdir(`${tmp}/policy`);
  await Deno.writeFile(`${tmp}/policy/model.safetensors`, new Uint8Array(256).fill(it));
};

Deno.test("disk full while writing a checkpoint: a clear error and the previous checkpoint intact", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await prepareRunDir(dir);
    await writeCheckpoint(dir, 2, fillState(2));
    const before = await Deno.readFile(`${checkpointPath(dir, 2)}/policy/model.safetensors`);
    // an injected writer that runs out of space half-way
    await assert.rejects(
      () =>
        writeCheckpoint(dir, 4, async (tmp) => {
          await Deno.writeTextFile(`${tmp}/state.json`, "{}");
          throw new Error("No space left on device (os error 28)");
        }),
      (e: Error) =>
        e.message ===
          `${checkpointPath(dir, 4)}: cannot write the checkpoint (No space left on device ` +
            `(os error 28)); the previous checkpoint ${checkpointPath(dir, 2)} is intact`,
    );
    // a real ENOSPC from the kernel: /dev/full always is full
    const devFull = await Deno.stat("/dev/full").then(() => true, () => false);
    if (devFull) {
      await assert.rejects(
        () =>
          writeCheckpoint(dir, 4, async () => {
            const file = await Deno.open("/dev/full", { write: true });
            try {
              await file.write(new Uint8Array(4096));
            } finally {
              file.close();
            }
          }),
        /cannot write the checkpoint \(No space left on device.*previous checkpoint .*iter-000002 is intact/,
      );
    }
    assert.deepEqual(await listCheckpoints(dir), [2]);
    assert.deepEqual([...Deno.readDirSync(`${dir}/checkpoints`)].map((e) => e.name), [
      "iter-000002",
    ]);
    assert.deepEqual(
      await Deno.readFile(`${checkpointPath(dir, 2)}/policy/model.safetensors`),
      before,
    );
    await verifyCheckpoint(checkpointPath(dir, 2));
    if (devFull) {
      await assert.rejects(
        () => appendJsonl("/dev/full", { iteration: 3 }),
        /^InputError: \/dev\/full: cannot append a line \(No space left on device.*the lines before it are intact$/,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a damaged newest checkpoint: resume from the one before, with a warning naming it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await prepareRunDir(dir);
    for (const it of [2, 4, 6]) await writeCheckpoint(dir, it, fillState(it));
    const manifest = JSON.parse(await Deno.readTextFile(`${checkpointPath(dir, 6)}/${MANIFEST}`));
    assert.deepEqual(Object.keys(manifest.files), ["policy/model.safetensors", "state.json"]);
    // one flipped byte in the newest checkpoint's weights; the one before loses a file
    const weights = `${checkpointPath(dir, 6)}/policy/model.safetensors`;
    const bytes = await Deno.readFile(weights);
    bytes[100] ^= 1;
    await Deno.writeFile(weights, bytes);
    const warnings: string[] = [];
    const loaded = await loadLatestCheckpoint(
      dir,
      async (path) => JSON.parse(await Deno.readTextFile(`${path}/state.json`)),
      (line) => warnings.push(line),
    );
    assert.equal(loaded!.iteration, 4);
    assert.deepEqual(loaded!.value, { it: 4 });
    assert.equal(warnings.length, 1);
    assert.match(
      warnings[0],
      /^warning: checkpoint .*iter-000006 is unusable \(.*model\.safetensors: its SHA-256 differs/,
    );
    // a loader that fails (e.g. a checkpoint of another config) also falls back
    await Deno.remove(`${checkpointPath(dir, 4)}/state.json`);
    warnings.length = 0;
    const older = await loadLatestCheckpoint(
      dir,
      () => Promise.resolve("ok"),
      (l) => warnings.push(l),
    );
    assert.equal(older!.iteration, 2);
    assert.match(warnings[1], /iter-000004 is unusable \(.*state\.json: missing/);
    await Deno.remove(`${checkpointPath(dir, 2)}/state.json`);
    await assert.rejects(
      () => loadLatestCheckpoint(dir, () => Promise.resolve(0), () => {}),
      /none of the 3 checkpoints is usable/,
    );
    await Deno.mkdir(`${dir}/empty`);
    assert.equal(
      await loadLatestCheckpoint(`${dir}/empty`, () => Promise.resolve(0), () => {}),
      null,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the run lock refuses a second run, names its pid, and replaces a stale lock", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await prepareRunDir(dir);
    const lock = await acquireRunLock(dir);
    const held = JSON.parse(await Deno.readTextFile(`${dir}/.lock`));
    assert.equal(held.pid, Deno.pid);
    await assert.rejects(
      () => acquireRunLock(dir),
      (e: Error) =>
        e.message.startsWith(`${dir}: another run (pid ${Deno.pid}, started `) &&
        e.message.includes(`delete ${dir}/.lock if it is gone`),
    );
    await lock.release();
    assert.equal(await Deno.stat(`${dir}/.lock`).then(() => true, () => false), false);
    // a lock left by a process that has exited (a killed run) is stale
    const child = new Deno.Command(Deno.execPath(), { args: ["eval", ""] }).spawn();
    await child.status;
    await Deno.writeTextFile(
      `${dir}/.lock`,
      JSON.stringify({ pid: child.pid, host: Deno.hostname(), started: "then" }),
    );
    assert.equal(processAlive(child.pid), false);
    const warnings: string[] = [];
    {
      await using _again = await acquireRunLock(dir, (l) => warnings.push(l));
      assert.deepEqual(warnings, [
        `warning: removing the stale lock ${dir}/.lock (pid ${child.pid} is not running)`,
      ]);
      assert.equal(JSON.parse(await Deno.readTextFile(`${dir}/.lock`)).pid, Deno.pid);
    }
    assert.equal(await Deno.stat(`${dir}/.lock`).then(() => true, () => false), false);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["checkpoints"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

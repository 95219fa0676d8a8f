/**
 * Issue 16's faults, end to end through `deno task train`: a SIGKILL during a
 * checkpoint write, a damaged newest checkpoint, two runs into one folder (and a
 * stale lock), a NaN or infinite reward, an over-long prompt setting. The disk-full
 * case is in cli/run_dir_test.ts (an injected writer and /dev/full).
 */
import assert from "node:assert/strict";
import { lastValueFrom } from "rxjs";
import { checkpointPath, listCheckpoints } from "../cli/run_dir.ts";
import { initBackend } from "../models/backend.ts";
import { ppo } from "../pipelines/ppo.ts";
import { disposeAlgorithmState } from "../pipelines/state.ts";
import { toySparseTask } from "../tasks/toy.ts";
import { toyOptions, toyState } from "./_toy_setup.ts";

const root = new URL("..", import.meta.url).pathname;
const TIMING = new Set(["seconds", "tokens_per_s"]);
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

function train(args: string[], stdout: "null" | "piped" = "null"): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "cli/train.ts", ...args],
    cwd: root,
    env: { RUST_BACKTRACE: "0" },
    stdout,
    stderr: "piped",
  }).spawn();
}

async function finished(child: Deno.ChildProcess) {
  const out = await child.output();
  const stderr = decode(out.stderr);
  return { code: out.code, stderr, lines: stderr.split("\n").filter((l) => l.trim() !== "") };
}

async function metrics(dir: string): Promise<Record<string, unknown>[]> {
  const text = await Deno.readTextFile(`${dir}/metrics.jsonl`).catch(() => "");
  return text.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l))
    .map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => !TIMING.has(k))));
}

const TOY = ["--preset", "toy", "--algo", "ppo++", "--seed", "2"];

Deno.test("SIGKILL during a checkpoint write, then a damaged newest checkpoint: each resume uses the last good one", async () => {
  const base = await Deno.makeTempDir();
  const run = `${base}/run`;
  try {
    const first = await finished(train([...TOY, "--iterations", "4", "--out", run]));
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(await listCheckpoints(run), [2, 4]);
    const expected = await metrics(run);

    // a checkpoint write killed half-way leaves only a temporary folder
    const writer = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "tests/_checkpoint_writer.ts", run, "6"],
      cwd: root,
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const reader = writer.stdout.getReader();
    assert.match(decode((await reader.read()).value!), /filling/);
    writer.kill("SIGKILL");
    assert.equal((await writer.status).signal, "SIGKILL");
    reader.releaseLock();
    await writer.stdout.cancel();
    const leftovers = [...Deno.readDirSync(`${run}/checkpoints`)].map((e) => e.name).sort();
    assert.equal(leftovers.length, 3);
    assert.match(leftovers[2], /^iter-000006\.tmp-/);
    assert.deepEqual(await listCheckpoints(run), [2, 4]);

    const resumed = await finished(train(["--resume", run]));
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stderr, /resuming .* at iteration 4\n/);
    assert.doesNotMatch(resumed.stderr, /warning/);
    assert.deepEqual([...Deno.readDirSync(`${run}/checkpoints`)].map((e) => e.name).sort(), [
      "iter-000002",
      "iter-000004",
    ]);

    // one flipped byte in the newest checkpoint: named, and the one before is used
    const file = `${checkpointPath(run, 4)}/state.safetensors`;
    const bytes = await Deno.readFile(file);
    bytes[bytes.length - 5] ^= 0x40;
    await Deno.writeFile(file, bytes);
    const fallback = await finished(train(["--resume", run]));
    assert.equal(fallback.code, 0, fallback.stderr);
    assert.match(
      fallback.stderr,
      new RegExp(
        `warning: checkpoint ${checkpointPath(run, 4)} is unusable \\(.*state\\.safetensors: ` +
          "its SHA-256 differs from the manifest's \\(damaged\\)\\); trying the one before",
      ),
    );
    assert.match(fallback.stderr, /resuming .* at iteration 2\n/);
    // iterations 3-4 ran again from checkpoint 2 and gave the same metrics
    assert.deepEqual(await metrics(run), expected);
    assert.deepEqual(await listCheckpoints(run), [2, 4]);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("two runs into one folder: the second is refused naming the first's pid; a killed run's lock is stale", async () => {
  const base = await Deno.makeTempDir();
  const run = `${base}/run`;
  try {
    // long enough that it is still running whatever the load when the second run starts
    const first = train([...TOY, "--iterations", "400", "--out", run]);
    const deadline = Date.now() + 60_000;
    while ((await metrics(run)).length < 1 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const lock = JSON.parse(await Deno.readTextFile(`${run}/.lock`));
    assert.equal(lock.pid, first.pid);
    for (const args of [["--resume", run], [...TOY, "--out", run]]) {
      const second = await finished(train(args));
      assert.equal(second.code, 1);
      assert.equal(second.lines.length, 1, second.stderr);
      assert.match(second.lines[0], new RegExp(`^error: ${run}: another run \\(pid ${first.pid},`));
    }
    while ((await listCheckpoints(run)).length < 1 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    first.kill("SIGKILL");
    await first.stderr.cancel();
    await first.status;
    // resumed from the last checkpoint, shortened to two iterations past it
    const total = (await listCheckpoints(run)).at(-1)! + 2;
    const resumed = await finished(train(["--resume", run, "--iterations", String(total)]));
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(
      resumed.stderr,
      new RegExp(
        `warning: removing the stale lock ${run}/\\.lock \\(pid ${first.pid} is not running\\)`,
      ),
    );
    assert.equal((await metrics(run)).length, total);
    assert.equal(await Deno.stat(`${run}/.lock`).then(() => true, () => false), false);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("an over-long prompt setting is a one-line error naming the field; nothing is trained", async () => {
  const base = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${base}/c.json`, JSON.stringify({ train: { maxPromptTokens: 30 } }));
    const result = await finished(
      train(["--preset", "toy", "--config", `${base}/c.json`, "--out", `${base}/run`]),
    );
    assert.equal(result.code, 1);
    assert.deepEqual(result.lines, [
      'error: Config field "train.maxPromptTokens": 30 prompt tokens + ' +
      "train.generation.maxNewTokens 3 = 33 exceed the policy's context of 32 positions; " +
      "lower one of them (longer prompts are left-truncated to train.maxPromptTokens)",
    ]);
    assert.deepEqual(await listCheckpoints(`${base}/run`), []);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("a NaN or infinite reward stops the run with one line naming the prompt id and the value", async () => {
  await initBackend();
  for (const bad of [NaN, Infinity]) {
    const toy = toySparseTask({ maxNewTokens: 3, seed: 0 });
    const records = await toy.records("train");
    // the ids of the records with that prompt text (the reward sees texts, not ids)
    const poisoned = records.filter((r) => r.prompt === records[5].prompt).map((r) => r.id);
    const task = {
      ...toy,
      records: toy.records,
      reward: async (batch: Parameters<typeof toy.reward>[0]) => {
        const scores = await toy.reward(batch);
        return scores.map((s, i) => batch.prompts[i] === records[5].prompt ? bad : s);
      },
    };
    const options = toyOptions({ iterations: 4, trajectoriesPerUpdate: records.length });
    const state = await toyState(task, 0, options);
    await assert.rejects(
      () => lastValueFrom(ppo(state, options)),
      (e: Error) => {
        const named = /^Reward function returned (\S+) for prompt "([^"]+)" \(row \d+, /.exec(
          e.message,
        );
        return e instanceof RangeError && !e.message.includes("\n") && named !== null &&
          named[1] === String(bad) && poisoned.includes(named[2]);
      },
    );
    disposeAlgorithmState(state);
  }
});

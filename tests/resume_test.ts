/**
 * Issue 5's crash test: a run killed with SIGKILL mid-iteration and resumed from
 * its last checkpoint ends with the same metrics as an uninterrupted run, with
 * nothing before the checkpoint lost and nothing repeated.
 */
import assert from "node:assert/strict";

const TIMING = new Set(["seconds", "tokens_per_s"]);
const root = new URL("..", import.meta.url).pathname;
const args = ["--preset", "toy", "--algo", "ppo++", "--iterations", "8", "--seed", "3"];

function train(extra: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "cli/train.ts", ...extra],
    cwd: root,
    stdout: "null",
    stderr: "piped",
  }).spawn();
}

async function metrics(dir: string): Promise<Record<string, unknown>[]> {
  const text = await Deno.readTextFile(`${dir}/metrics.jsonl`).catch(() => "");
  return text.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
}

const withoutTiming = (rows: Record<string, unknown>[]) =>
  rows.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => !TIMING.has(k))));

Deno.test("a run killed with SIGKILL mid-iteration resumes to the uninterrupted run's metrics", async () => {
  const base = await Deno.makeTempDir();
  try {
    const whole = train([...args, "--out", `${base}/whole`]);
    const wholeStatus = await whole.output();
    assert.equal(wholeStatus.code, 0, new TextDecoder().decode(wholeStatus.stderr));

    const killed = train([...args, "--out", `${base}/killed`]);
    // Kill once 3 iterations are logged (a checkpoint exists after iteration 2 of 8:
    // the toy preset checkpoints every 2), while a later iteration is running.
    const deadline = Date.now() + 60_000;
    while ((await metrics(`${base}/killed`)).length < 3 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    killed.kill("SIGKILL");
    const killedStatus = await killed.output();
    assert.notEqual(killedStatus.code, 0, "the first run must have been killed, not finished");
    const beforeResume = await metrics(`${base}/killed`);
    assert.ok(beforeResume.length < 8, `killed too late: ${beforeResume.length} iterations logged`);

    const resumed = train(["--resume", `${base}/killed`]);
    const resumedStatus = await resumed.output();
    const log = new TextDecoder().decode(resumedStatus.stderr);
    assert.equal(resumedStatus.code, 0, log);
    assert.match(log, /resuming .* at iteration [2-8]/);

    const expected = await metrics(`${base}/whole`);
    const got = await metrics(`${base}/killed`);
    assert.deepEqual(got.map((m) => m.iteration), [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual(withoutTiming(got), withoutTiming(expected));
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

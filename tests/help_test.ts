/**
 * Issue 16: `--help` on every command, and an unknown flag as one line with exit code 1.
 * Each script stops at its flags: nothing is trained, downloaded or benchmarked.
 */
import assert from "node:assert/strict";

const root = new URL("..", import.meta.url).pathname;
const tasks: Record<string, string> = JSON.parse(
  await Deno.readTextFile(`${root}/deno.json`),
).tasks;

/** The tasks a user runs, and the words their usage text starts with. */
const COMMANDS: [string, string][] = [
  ["train", "Usage: deno task train"],
  ["pretrain", "Usage: deno task pretrain"],
  ["eval", "Usage:\n  deno task eval"],
  ["generate", "Usage: deno task generate"],
  ["serve", "Usage: deno task serve"],
  ["report", "Usage: deno task report"],
  ["reward:train", "Usage: deno task reward:train"],
  ["bench", "Usage: deno task bench"],
  ["bench:speed", "Usage: deno task bench:speed"],
  ["bench:data", "Usage: deno task bench:data"],
  ["bench:paper", "Usage: deno task bench:paper"],
  ["bench:serve", "Usage: deno task bench:serve"],
  ["bench:lora", "Usage: deno task bench:lora"],
];

async function run(task: string, args: string[]) {
  const command = tasks[task].split(" "); // "deno run -A script.ts"
  assert.deepEqual(command.slice(0, 3), ["deno", "run", "-A"], task);
  const out = await new Deno.Command(Deno.execPath(), {
    args: [...command.slice(1), ...args],
    cwd: root,
    env: { NO_COLOR: "1" },
  }).output();
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes).trim();
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

for (const [task, usage] of COMMANDS) {
  Deno.test(`deno task ${task} --help prints its usage; an unknown flag is one line`, async () => {
    const [help, bogus] = await Promise.all([run(task, ["--help"]), run(task, ["--bogus"])]);
    assert.equal(help.code, 0, help.stderr);
    assert.ok(help.stdout.startsWith(usage), help.stdout.slice(0, 200));
    assert.match(help.stdout, /-h, --help/);
    assert.equal(bogus.code, 1, bogus.stderr);
    assert.match(bogus.stderr, /^error: unknown flag --bogus; flags: --help, /);
    assert.equal(bogus.stderr.split("\n").length, 1, bogus.stderr);
  });
}

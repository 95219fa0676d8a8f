import assert from "node:assert/strict";
import { formatDuration, Progress } from "./progress.ts";

Deno.test("formatDuration() writes hours, minutes and seconds", () => {
  assert.equal(formatDuration(42.4), "42s");
  assert.equal(formatDuration(185), "3m05s");
  assert.equal(formatDuration(3720), "1h02m");
  assert.equal(formatDuration(NaN), "?");
});

Deno.test("Progress.line() shows rate and ETA from the clock", () => {
  let now = 0;
  const progress = new Progress("train", 10, {
    now: () => now,
    sink: { write() {}, isTerminal: false },
  });
  now = 4000;
  assert.equal(
    progress.line(2, { reward: "0.50" }),
    "train 2/10 | reward 0.50 | 2.0 s/it | elapsed 4s | eta 16s",
  );
});

Deno.test("Progress rewrites one line on a terminal and logs plain lines otherwise", () => {
  let now = 0;
  const live: string[] = [];
  const plain: string[] = [];
  const a = new Progress("eval", 3, {
    now: () => now,
    sink: { write: (t) => live.push(t), isTerminal: true },
  });
  const b = new Progress("eval", 3, {
    now: () => now,
    plainEveryMs: 1000,
    sink: { write: (t) => plain.push(t), isTerminal: false },
  });
  for (let i = 1; i <= 3; i++) {
    now += 400;
    a.update(i);
    b.update(i);
  }
  a.finish();
  assert.ok(live.every((t) => t.startsWith("\r\x1b[2K")));
  assert.ok(live.at(-1)!.endsWith("\n"));
  // Plain mode: the first update, then nothing until 1 s passed or the end.
  assert.equal(plain.length, 2);
  assert.ok(plain.every((t) => t.endsWith("\n") && !t.includes("\r")));
});

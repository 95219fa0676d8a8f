/**
 * Issue 5's bad-input cases for `deno task train`: each is a one-line error that
 * names what is wrong, a non-zero exit, and nothing deleted.
 */
import assert from "node:assert/strict";

const root = new URL("..", import.meta.url).pathname;

async function train(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "cli/train.ts", ...args],
    cwd: root,
    env: { RUST_BACKTRACE: "0", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr).trim();
  return { code: out.code, stderr, lines: stderr.split("\n").filter((l) => l.trim() !== "") };
}

function assertOneLineError(result: { code: number; lines: string[] }, ...mentions: string[]) {
  assert.notEqual(result.code, 0);
  assert.equal(result.lines.length, 1, `expected one line, got:\n${result.lines.join("\n")}`);
  assert.match(result.lines[0], /^error: /);
  for (const m of mentions) {
    assert.ok(result.lines[0].includes(m), `"${result.lines[0]}" should name ${m}`);
  }
}

Deno.test("train: an unknown preset is a one-line error naming it and the choices", async () => {
  const result = await train(["--preset", "imdb-huge"]);
  assertOneLineError(result, "imdb-huge", "imdb-small");
});

Deno.test("train: an unknown config key is a one-line error naming the field and the file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/c.yaml`, "train:\n  learner:\n    epoch: 3\n");
    const result = await train([
      "--preset",
      "toy",
      "--config",
      `${dir}/c.yaml`,
      "--out",
      `${dir}/run`,
    ]);
    assertOneLineError(result, "train.learner.epoch", `${dir}/c.yaml`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train: an unknown flag and a bad flag value are one-line errors", async () => {
  assertOneLineError(await train(["--presets", "toy"]), "--presets");
  assertOneLineError(await train(["--preset", "toy", "--seed", "x"]), "--seed");
});

Deno.test("train: a missing model folder is a one-line error naming it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/gpt2.json`,
      JSON.stringify({
        policy: { dir: `${dir}/no-such-model` },
        reward: { kind: "onnx", path: `${dir}/r` },
      }),
    );
    const result = await train([
      "--preset",
      "imdb-gpt2",
      "--config",
      `${dir}/gpt2.json`,
      "--out",
      `${dir}/run`,
    ]);
    assertOneLineError(result, `${dir}/no-such-model`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train: a data folder without IMDB files is a one-line error naming the folder", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/data`);
    const result = await train(["--data", `${dir}/data`, "--out", `${dir}/run`], {
      RLGF_CACHE_DIR: `${dir}/cache`,
    });
    assertOneLineError(result, `${dir}/data`, "IMDB");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train: an unwritable run folder is a one-line error naming it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/file`, "");
    const result = await train(["--preset", "toy", "--out", `${dir}/file/run`]);
    assertOneLineError(result, `${dir}/file/run`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train: a run folder that holds a run is refused and left as it was", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/run/checkpoints/iter-000002`, { recursive: true });
    await Deno.writeTextFile(`${dir}/run/metrics.jsonl`, '{"iteration":0}\n{"iteration":1}\n');
    const result = await train(["--preset", "toy", "--out", `${dir}/run`]);
    assertOneLineError(result, `${dir}/run`, "--resume");
    assert.equal(
      await Deno.readTextFile(`${dir}/run/metrics.jsonl`),
      '{"iteration":0}\n{"iteration":1}\n',
    );
    assert.ok((await Deno.stat(`${dir}/run/checkpoints/iter-000002`)).isDirectory);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train: --resume of a folder with no run config is a one-line error naming the file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const result = await train(["--resume", dir]);
    assertOneLineError(result, `${dir}/config.json`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train: flag mistakes are one line naming the flag, with a did-you-mean", async () => {
  const cases: [string[], string[]][] = [
    [["toy"], ['unexpected argument "toy"', "--preset toy"]],
    [["--presets", "toy"], ["unknown flag --presets", "did you mean --preset?"]],
    [["--preset", "toy", "--algo", "ppx"], ["flag --algo", '"ppx"', "ppo++"]],
    [["--preset", "toy", "--iterations", "-5"], ["flag --iterations", "positive integer", '"-5"']],
    [["--preset", "toy", "--seed"], ["flag --seed needs a value"]],
    [["--resume", "runs/x", "--seed", "2"], ["flag --seed", "--resume"]],
  ];
  for (const [args, mentions] of cases) {
    const result = await train(args);
    assert.equal(result.code, 1, args.join(" "));
    assertOneLineError(result, ...mentions);
    assert.doesNotMatch(result.stderr, /Config field|^\s+at /m);
  }
});

Deno.test("train: --resume DIR --iterations N extends a finished run", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const first = await train(["--preset", "toy", "--iterations", "2", "--out", `${dir}/run`], {
      RLGF_CACHE_DIR: `${dir}/c1`,
    });
    assert.equal(first.code, 0, first.stderr);
    const more = await train(["--resume", `${dir}/run`, "--iterations", "3"], {
      RLGF_CACHE_DIR: `${dir}/c2`,
    });
    assert.equal(more.code, 0, more.stderr);
    assert.match(more.stderr, new RegExp(`using the run's cache ${dir}/c1`)); // not rebuilt in c2
    assert.match(more.stderr, /resuming .* at iteration 2 \(now 3 iterations in all\)/);
    const metrics = (await Deno.readTextFile(`${dir}/run/metrics.jsonl`)).trim().split("\n")
      .map((line) => JSON.parse(line).iteration);
    assert.deepEqual(metrics, [0, 1, 2]);
    const config = JSON.parse(await Deno.readTextFile(`${dir}/run/config.json`));
    assert.equal(config.train.iterations, 3); // a later --resume continues from the new total
    assert.ok((await Deno.stat(`${dir}/run/checkpoints/iter-000003`)).isDirectory);
    assertOneLineError(
      await train(["--resume", `${dir}/run`, "--iterations", "2"]),
      "flag --iterations",
      "has done 3 iterations",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train: a failing text-API guide is one line naming its URL, no stack trace", async () => {
  const dir = await Deno.makeTempDir();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("internal error\n    at handler (server.js:1)", { status: 500 }),
  );
  try {
    const url = `http://127.0.0.1:${server.addr.port}/v1/completions`;
    await Deno.writeTextFile(
      `${dir}/api.json`,
      JSON.stringify({ guide: { kind: "api", apiUrl: url, apiModel: "m" } }),
    );
    const args = ["--preset", "toy", "--algo", "ppo++", "--config", `${dir}/api.json`];
    const result = await train([...args, "--out", `${dir}/run`]);
    assertOneLineError(result, url, "the text API guide failed", "HTTP 500: internal error");
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Issue 13: a training run whose guide is a text API sends the key from the environment as a
 * Bearer token and writes it nowhere (config.json, metrics, report, checkpoints, logs); it counts
 * its requests into the metrics and keeps the answers, so the same run asks nothing twice.
 */
import assert from "node:assert/strict";

const root = new URL("..", import.meta.url).pathname;

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) out.push(...await filesUnder(path));
    else if (entry.isFile) out.push(path);
  }
  return out;
}

Deno.test("train with an API guide: the key goes as a Bearer token, into no file of the run", async () => {
  const secret = `sk-test-${crypto.randomUUID()}`;
  const seen: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    seen.push(request.headers.get("authorization") ?? "");
    const body = await request.json();
    // the toy task's own answer, in its alphabet
    return Response.json({
      choices: (body.prompt as string[]).map((_, i) => ({ index: i, text: "caf" })),
    });
  });
  const dir = await Deno.makeTempDir({ prefix: "rlgf-api-guide-" });
  try {
    const config = {
      guide: {
        kind: "api",
        apiUrl: `http://127.0.0.1:${server.addr.port}/v1/completions`,
        apiModel: "toy-guide",
        apiKeyEnv: "RLGF_TEST_API_KEY",
        timeoutSeconds: 10,
      },
    };
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config));
    const train = (out: string) =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "cli/train.ts",
          "--preset",
          "toy",
          "--algo",
          "ppo++",
          "--iterations",
          "2",
          "--config",
          `${dir}/config.json`,
          "--out",
          out,
        ],
        cwd: root,
        env: { RLGF_TEST_API_KEY: secret, NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
    const out = await train(`${dir}/run`);
    const log = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, log);
    assert.ok(seen.length > 0 && seen.every((h) => h === `Bearer ${secret}`), seen.join(","));
    assert.ok(!log.includes(secret));
    const files = await filesUnder(`${dir}/run`);
    assert.ok(files.some((f) => f.endsWith("config.json")));
    for (const file of files) {
      const text = new TextDecoder().decode(await Deno.readFile(file));
      assert.ok(!text.includes(secret), `${file} holds the key`);
    }
    // the variable's name is recorded, so a resumed run knows where to look
    const saved = JSON.parse(await Deno.readTextFile(`${dir}/run/config.json`));
    assert.equal(saved.guide.apiKeyEnv, "RLGF_TEST_API_KEY");
    // each iteration counts the interaction; the run's cache answers the same run again
    const metrics = (await Deno.readTextFile(`${dir}/run/metrics.jsonl`)).trim().split("\n")
      .map((l) => JSON.parse(l));
    const requests = metrics.at(-1).api_requests;
    // (the final evaluation of the guide asks after the last iteration's record)
    assert.ok(requests > 0 && requests <= seen.length, `${requests} vs ${seen.length}`);
    const asked = seen.length;
    await Deno.mkdir(`${dir}/again`);
    await Deno.copyFile(`${dir}/run/api_cache.jsonl`, `${dir}/again/api_cache.jsonl`);
    const replay = await train(`${dir}/again`);
    assert.equal(replay.code, 0, new TextDecoder().decode(replay.stderr));
    assert.equal(seen.length, asked, "the replay asked the server again");
    const replayed = (await Deno.readTextFile(`${dir}/again/metrics.jsonl`)).trim().split("\n")
      .map((l) => JSON.parse(l));
    assert.equal(replayed.at(-1).api_requests, 0);
    assert.ok(replayed.at(-1).api_cache_hits > 0);
    assert.deepEqual(
      replayed.map((m) => m.reward_mean),
      metrics.map((m) => m.reward_mean),
    );
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Issue 14: `rollout.kind: "api"` — a LoRA run whose roll-outs are sampled by two local servers
 * (serve with LoRA routes, on 127.0.0.1; each new adapter pushed to both) gives the same metrics
 * as the local run with the same seed (and, with the servers' log-probs as PPO's old ones, the
 * same samples and a loss within the mismatch); one server shut down mid-run sends its rows to the other
 * and the run finishes with the same metrics; no server up is a one-line error after the
 * bounded retries.
 */
import assert from "node:assert/strict";
import { initBackend } from "../models/backend.ts";
import * as tf from "@tensorflow/tfjs-core";
import { loadCausalLM, saveCausalLM } from "../models/checkpoint.ts";
import { ModelRegistry, serveLoraAdapters } from "../serve/registry.ts";
import { openAiHandler } from "../serve/server.ts";
import { CompletionService, contextLengthOf } from "../serve/service.ts";
import { ToyTokenizer } from "../tasks/toy.ts";

const root = new URL("..", import.meta.url).pathname;
const SKIP = new Set([
  "seconds",
  "tokens_per_s",
  "rollout_requests",
  "rollout_failovers",
  "rollout_adapter_loads",
  "rollout_logprob_mismatch",
]);

function train(args: string[]) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "cli/train.ts", ...args],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "null",
    stderr: "piped",
  }).spawn();
}

const metrics = async (dir: string) =>
  (await Deno.readTextFile(`${dir}/metrics.jsonl`).catch(() => "")).trim().split("\n")
    .filter((l) => l).map((l) => JSON.parse(l) as Record<string, number>);
const comparable = (rows: Record<string, number>[]) =>
  rows.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => !SKIP.has(k))));

/** A server of the toy base (with LoRA routes) on a free port. */
async function toyServer(baseDir: string) {
  const base = await loadCausalLM(baseDir);
  base.tokenizer = new ToyTokenizer();
  const registry = new ModelRegistry([
    new CompletionService({
      name: "toy",
      model: base,
      tokenizer: base.tokenizer,
      contextLength: contextLengthOf(base),
    }),
  ]);
  const lora = serveLoraAdapters(registry, base, { engine: "auto" });
  const handler = openAiHandler(registry);
  let completions = 0;
  const http = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    if (new URL(request.url).pathname === "/v1/completions") completions++;
    return handler(request);
  });
  const server = {
    baseUrl: `http://127.0.0.1:${http.addr.port}/v1`,
    close: async () => {
      await http.shutdown();
      await registry.close();
    },
  };
  let closed = false;
  return {
    url: server.baseUrl,
    // counted at the door: an unloaded adapter's service takes its counts with it
    requests: () => completions,
    async close() {
      if (closed) return;
      closed = true;
      await server.close();
      await lora.dispose();
      base.dispose();
    },
  };
}

Deno.test("remote roll-outs on two servers train as the local route does; failover; all down", async () => {
  await initBackend();
  const dir = await Deno.makeTempDir({ prefix: "rlgf-remote-" });
  const lora = { r: 4, alpha: 8, targetModules: ["c_attn", "c_proj"] };
  const args = ["--preset", "toy", "--algo", "ppo", "--iterations", "6", "--seed", "4"];
  const run = async (name: string, config: unknown, during?: () => Promise<void>) => {
    await Deno.writeTextFile(`${dir}/${name}.json`, JSON.stringify(config));
    const child = train([...args, "--config", `${dir}/${name}.json`, "--out", `${dir}/${name}`]);
    const stderr = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    const drain = (async () => {
      for (;;) {
        const { value, done } = await stderr.read();
        if (done) return;
        text += value;
      }
    })();
    await during?.();
    const status = await child.status;
    await drain;
    return { code: status.code, stderr: text };
  };
  try {
    const local = await run("local", { lora });
    assert.equal(local.code, 0, local.stderr);
    const a = await toyServer(`${dir}/local/base`);
    const b = await toyServer(`${dir}/local/base`);
    try {
      const remote = { lora, rollout: { kind: "api", servers: [a.url, b.url], model: "toy" } };
      const both = await run("remote", remote);
      assert.equal(both.code, 0, both.stderr);
      assert.deepEqual(
        comparable(await metrics(`${dir}/remote`)),
        comparable(await metrics(`${dir}/local`)),
      );
      const rows = await metrics(`${dir}/remote`);
      assert.ok(
        a.requests() > 0 && b.requests() > 0,
        `both servers sampled: ${a.requests()}, ${b.requests()}`,
      );
      // every completion is a row, or the probe each server scores after loading an adapter
      assert.equal(
        rows.at(-1)!.rollout_requests + rows.at(-1)!.rollout_adapter_loads,
        a.requests() + b.requests(),
      );
      assert.equal(rows.at(-1)!.rollout_failovers, 0);
      assert.ok(
        rows.at(-1)!.rollout_adapter_loads >= 2 * 6,
        "a new adapter on both servers each iteration",
      );
      // the servers' log-probs are the learner's (same graphs, same weights)
      assert.ok(
        rows.at(-1)!.rollout_logprob_mismatch < 1e-4,
        `${rows.at(-1)!.rollout_logprob_mismatch}`,
      );
      // PPO's old log-probs from the servers: the same samples in the first iteration, and a
      // loss within the mismatch of the recomputed one
      const served = await run("served", {
        ...remote,
        rollout: { ...remote.rollout, serverLogProbs: true },
      });
      assert.equal(served.code, 0, served.stderr);
      const [first] = await metrics(`${dir}/served`);
      const [localFirst] = await metrics(`${dir}/local`);
      assert.equal(first.reward_mean, localFirst.reward_mean);
      for (const [key, value] of Object.entries(comparable([localFirst])[0])) {
        if (typeof value !== "number") assert.equal(first[key], value, key);
        else assert.ok(Math.abs(first[key] - value) <= 1e-4 * (1 + Math.abs(value)), `${key}`);
      }
      // one server goes away after the second iteration: the other takes its rows
      const failover = await run("failover", remote, async () => {
        while ((await metrics(`${dir}/failover`)).length < 2) {
          await new Promise((r) => setTimeout(r, 20));
        }
        await a.close();
      });
      assert.equal(failover.code, 0, failover.stderr);
      assert.deepEqual(
        comparable(await metrics(`${dir}/failover`)),
        comparable(await metrics(`${dir}/local`)),
      );
      // a server whose base is not the learner's: the probe stops the run, naming it
      const other = await loadCausalLM(`${dir}/local/base`);
      const ln = other.weights.get("ln_f.weight")!;
      ln.assign(tf.mul(ln, 1.5));
      await saveCausalLM(other, `${dir}/other-base`);
      other.dispose();
      const liar = await toyServer(`${dir}/other-base`);
      try {
        const lied = await run("lied", {
          lora,
          rollout: { kind: "api", servers: [liar.url], model: "toy" },
        });
        assert.equal(lied.code, 1);
        assert.match(
          lied.stderr,
          /error: http:\/\/127\.0\.0\.1:\d+\/v1: serves rlgf-\S+ with log-probs up to .* not the learner's base/,
        );
      } finally {
        await liar.close();
      }
    } finally {
      await a.close();
      await b.close();
    }
    // nothing listening: one line naming the servers, after the bounded retries
    const down = await run("down", {
      lora,
      rollout: {
        kind: "api",
        servers: [a.url, b.url],
        model: "toy",
        maxRetries: 2,
        timeoutSeconds: 2,
      },
    });
    assert.equal(down.code, 1);
    const lines = down.stderr.trim().split("\n");
    assert.equal(lines.length, 1, down.stderr);
    assert.match(lines[0], /^error: .*127\.0\.0\.1:\d+\/v1.*127\.0\.0\.1:\d+\/v1/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Issue 13: `deno task serve` as a user starts it — on ONNX Runtime by default, greedy
 * completions equal to the PyTorch reference, the key from the environment, a clean stop on
 * SIGTERM, and one-line errors for a missing folder or an unset key variable.
 */
import assert from "node:assert/strict";

const root = new URL("..", import.meta.url).pathname;
const fixture = `${root}tests/fixtures/tiny-gpt2`;
const reference = JSON.parse(await Deno.readTextFile(`${fixture}/reference.json`));

function serve(args: string[], env: Record<string, string> = {}) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "cli/serve.ts", ...args],
    cwd: root,
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  });
}

Deno.test("deno task serve: ONNX Runtime, reference completions, key, SIGTERM", async () => {
  const child = serve(["--model", fixture, "--port", "0", "--api-key-env", "RLGF_SERVE_KEY"], {
    RLGF_SERVE_KEY: "k-123",
  }).spawn();
  const lines: string[] = [];
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  const nextLine = async (pattern: RegExp) => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const line = lines.find((l) => pattern.test(l));
      if (line) return line;
      if (Date.now() > deadline) throw new Error(`no line ${pattern} in:\n${lines.join("\n")}`);
      const { value, done } = await reader.read();
      if (done) throw new Error(`serve ended early:\n${lines.join("\n")}${buffered}`);
      buffered += value;
      const parts = buffered.split("\n");
      buffered = parts.pop()!;
      lines.push(...parts);
    }
  };
  try {
    const listening = await nextLine(/^serving /);
    assert.match(listening, /ONNX Runtime/);
    assert.match(listening, /key from RLGF_SERVE_KEY/);
    const base = listening.match(/(http:\/\/127\.0\.0\.1:\d+\/v1)/)![1];
    const greedy = reference.greedy[0];
    const response = await fetch(`${base}/completions`, {
      method: "POST",
      headers: { authorization: "Bearer k-123", "content-type": "application/json" },
      body: JSON.stringify({
        model: "tiny-gpt2",
        prompt: greedy.prompt,
        max_tokens: 20,
        temperature: 0,
      }),
    });
    const json = await response.json();
    assert.equal(response.status, 200, JSON.stringify(json));
    const ids: number[] = greedy.new_ids;
    // the served text re-encodes to the reference's tokens (the tokenizer is transformers.js')
    const expected = await fetch(`${base}/completions`, {
      method: "POST",
      headers: { authorization: "Bearer k-123", "content-type": "application/json" },
      body: JSON.stringify({
        model: "tiny-gpt2",
        prompt: [greedy.prompt_ids.concat(ids)],
        max_tokens: 0,
        echo: true,
      }),
    }).then((r) => r.json());
    assert.equal(
      greedy.prompt + json.choices[0].text,
      expected.choices[0].text,
      "greedy continuation = decode(prompt ids + reference new ids)",
    );
    child.kill("SIGTERM");
    await nextLine(/^stopped after 2 requests, 20 tokens/);
    assert.equal((await child.status).code, 0);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
    await child.status;
    await reader.cancel().catch(() => {});
    await child.stdout.cancel().catch(() => {});
  }
});

Deno.test("deno task serve: a missing folder or an unset key variable is one line", async () => {
  const missing = await serve(["--model", "/no/such/model"]).output();
  assert.equal(missing.code, 1);
  const text = new TextDecoder().decode(missing.stderr).trim();
  assert.equal(text.split("\n").length, 1, text);
  assert.match(text, /\/no\/such\/model: model folder not found/);
  const unset = await serve(["--model", fixture, "--api-key-env", "RLGF_NO_SUCH_VAR"]).output();
  assert.equal(unset.code, 1);
  assert.match(new TextDecoder().decode(unset.stderr), /RLGF_NO_SUCH_VAR is unset/);
});

Deno.test("deno task serve: a Llama-family folder, greedy ids as PyTorch's", async () => {
  const llama = `${root}tests/fixtures/tiny-llama`;
  const greedy = JSON.parse(await Deno.readTextFile(`${llama}/reference.json`)).greedy[0];
  const child = serve(["--model", llama, "--port", "0"]).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  try {
    while (!/^serving .*\n/m.test(text)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`serve ended early:\n${text}`);
      text += value;
    }
    assert.match(text, /serving tiny-llama \(Llama, ONNX Runtime\)/);
    const base = text.match(/(http:\/\/127\.0\.0\.1:\d+\/v1)/)![1];
    const json = await fetch(`${base}/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: "tiny-llama",
        prompt: [greedy.prompt_ids],
        max_tokens: greedy.max_new_tokens,
        temperature: 0,
        ignore_eos: true,
        logprobs: 0,
        return_tokens_as_token_ids: true,
      }),
    }).then((r) => r.json());
    const ids = json.choices[0].logprobs.tokens.map((t: string) => Number(t.split(":")[1]));
    assert.deepEqual(ids, greedy.new_ids);
    (json.choices[0].logprobs.token_logprobs as number[]).forEach((lp, t) =>
      assert.ok(Math.abs(lp - greedy.new_token_logprobs[t]) < 2e-4, `log-prob ${t}`)
    );
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await reader.cancel().catch(() => {});
    await child.stdout.cancel().catch(() => {});
  }
});

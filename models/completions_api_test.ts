import assert from "node:assert/strict";
import { InputError } from "../core/errors.ts";
import { Rng } from "../core/prng.ts";
import { apiStats, completionsApi, openResponseCache, retryAfterMs } from "./completions_api.ts";
import { textGuide } from "./text_guide.ts";
import { wordTokenizer } from "../tests/_word_tokenizer.ts";

const tokenizer = wordTokenizer;

/**
 * A local server answering each request with `respond(request, n)` (n counts from 0); it stops
 * when the test's `using` scope ends, releasing any request still waiting on `hold`.
 */
function server(
  respond: (
    body: Record<string, unknown>,
    n: number,
    hold: Promise<void>,
    headers: Headers,
  ) => Promise<Response> | Response,
) {
  let n = 0;
  let release!: () => void;
  const hold = new Promise<void>((resolve) => (release = resolve));
  const bodies: Record<string, unknown>[] = [];
  const s = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const body = await request.json();
    bodies.push(body);
    return await respond(body, n++, hold, request.headers);
  });
  return {
    url: `http://127.0.0.1:${s.addr.port}/v1/completions`,
    bodies,
    calls: () => n,
    async [Symbol.asyncDispose]() {
      release();
      await s.shutdown();
    },
  };
}

const choices = (prompts: unknown, text = " was fun") =>
  Response.json({ choices: (prompts as string[]).map((_, i) => ({ index: i, text })) });

Deno.test("completionsApi() posts an OpenAI-style request to a local server and reads the choices", async () => {
  await using api = server((body, _n, _h, headers) => {
    assert.equal(headers.get("authorization"), "Bearer sk-test");
    const prompts = body.prompt as string[];
    return Response.json({
      choices: prompts.map((_, i) => ({ index: i, text: i === 0 ? " was fun" : " was bad" })),
      usage: { prompt_tokens: 3, completion_tokens: 4 },
    });
  });
  const stats = apiStats();
  const complete = completionsApi({ url: api.url, model: "guide-1", apiKey: "sk-test", stats });
  const out = await textGuide(complete, tokenizer).generate([[1, 2], [1]], { maxNewTokens: 4 });
  assert.deepEqual(out, [[3, 6], [3, 5]]);
  assert.equal(api.bodies[0].model, "guide-1");
  assert.equal(api.bodies[0].max_tokens, 4);
  assert.deepEqual(stats, {
    requests: 1,
    retries: 0,
    prompts: 2,
    charsSent: "the film".length + "the".length,
    charsReceived: " was fun".length + " was bad".length,
    promptTokens: 3,
    completionTokens: 4,
    cacheHits: 0,
  });
});

Deno.test("completionsApi() a server that never answers: a clear error within timeout x attempts", async () => {
  await using api = server(async (_b, _n, hold) => {
    await hold;
    return new Response("late");
  });
  const started = performance.now();
  const complete = completionsApi({
    url: api.url,
    model: "m",
    timeoutSeconds: 0.3,
    maxRetries: 1,
    backoffMs: 10,
  });
  await assert.rejects(() => complete(["x"], { maxNewTokens: 1 }), (error: Error) => {
    assert.ok(error instanceof InputError);
    assert.match(
      error.message,
      /^http:.*: the text API guide failed \(2 attempts\): no answer within 0\.3 s$/,
    );
    return true;
  });
  const seconds = (performance.now() - started) / 1000;
  assert.ok(seconds >= 0.6 && seconds < 0.6 + 1.5, `${seconds} s`);
  assert.equal(api.calls(), 2);
});

Deno.test("completionsApi() 500, 500, 200: success after backoff", async () => {
  await using api = server((body, n) =>
    n < 2 ? new Response("busy", { status: 500 }) : choices(body.prompt)
  );
  const stats = apiStats();
  const started = performance.now();
  const out = await completionsApi({ url: api.url, model: "m", backoffMs: 100, stats })(["x"], {
    maxNewTokens: 2,
  });
  assert.deepEqual(out, [" was fun"]);
  assert.equal(api.calls(), 3);
  assert.equal(stats.retries, 2);
  // waits of at least half of 100 and 200 ms (jitter keeps half of each)
  assert.ok(performance.now() - started >= 150);
});

Deno.test("completionsApi() 429 with Retry-After: 2 waits at least 2 s", async () => {
  await using api = server((body, n) =>
    n === 0
      ? new Response("slow down", { status: 429, headers: { "retry-after": "2" } })
      : choices(body.prompt)
  );
  const started = performance.now();
  await completionsApi({ url: api.url, model: "m", backoffMs: 10 })(["x"], { maxNewTokens: 1 });
  assert.ok(performance.now() - started >= 2000);
  assert.equal(api.calls(), 2);
  assert.equal(retryAfterMs("3"), 3000);
  assert.equal(retryAfterMs(new Date(10_000).toUTCString(), 4_000), 6000);
  assert.equal(retryAfterMs("soon"), null);
});

Deno.test("completionsApi() 401 and 404 fail at once with the status and the body's start", async () => {
  for (const status of [401, 404]) {
    await using api = server(() =>
      new Response(`{"error":{"message":"nope ${status}"}}`, { status })
    );
    await assert.rejects(
      () => completionsApi({ url: api.url, model: "m", backoffMs: 10 })(["x"], { maxNewTokens: 1 }),
      new RegExp(`\\(1 attempt\\): HTTP ${status}: \\{"error":\\{"message":"nope ${status}"`),
    );
    assert.equal(api.calls(), 1);
  }
});

Deno.test("completionsApi() invalid JSON, no choices, too few choices: errors naming the URL", async () => {
  const cases: [(body: Record<string, unknown>) => Response, RegExp][] = [
    [
      () => new Response("<html>\n<body>oops</body>\n</html>"),
      /the response is not JSON \(it starts "<html> <body>oops/,
    ],
    [() => Response.json({ data: [] }), /the response has no "choices" array/],
    [
      () => Response.json({ choices: [{ index: 0, text: "a" }] }),
      /the response has 1 choices for 2 prompts/,
    ],
    [
      () => Response.json({ choices: [{ index: 0 }, { index: 1, text: "" }] }),
      /choice 0 has no text string/,
    ],
  ];
  for (const [respond, expected] of cases) {
    await using api = server(respond);
    await assert.rejects(
      () => completionsApi({ url: api.url, model: "m" })(["x", "y"], { maxNewTokens: 1 }),
      (error: Error) => {
        assert.ok(error instanceof InputError && error.message.startsWith(api.url), error.message);
        assert.ok(!error.message.includes("\n"));
        assert.match(error.message, expected);
        return true;
      },
    );
    assert.equal(api.calls(), 1);
  }
  // an empty completion is a valid answer
  await using api = server(() => Response.json({ choices: [{ index: 0, text: "" }] }));
  assert.deepEqual(await completionsApi({ url: api.url, model: "m" })(["x"], { maxNewTokens: 1 }), [
    "",
  ]);
});

Deno.test("completionsApi() a refused connection is retried, then one line", async () => {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close(); // nobody listens there now
  await assert.rejects(
    () =>
      completionsApi({
        url: `http://127.0.0.1:${port}/v1/completions`,
        model: "m",
        maxRetries: 2,
        backoffMs: 5,
      })(
        ["x"],
        { maxNewTokens: 1 },
      ),
    /\(3 attempts\): /,
  );
});

Deno.test("completionsApi() batches prompts, keeps their order, and speaks chat", async () => {
  await using api = server((body) =>
    choices(body.prompt, ` ${(body.prompt as string[]).join("+")}`)
  );
  const out = await completionsApi({ url: api.url, model: "m", batchSize: 2, concurrency: 2 })(
    ["a", "b", "c", "d", "e"],
    { maxNewTokens: 1 },
  );
  assert.deepEqual(out, [" a+b", " a+b", " c+d", " c+d", " e"]);
  assert.equal(api.calls(), 3);

  await using chat = server((body) => {
    const messages = body.messages as { role: string; content: string }[];
    assert.equal(messages.length, 1);
    assert.equal(messages[0].role, "user");
    return Response.json({
      choices: [{
        index: 0,
        message: { role: "assistant", content: ` [${messages[0].content.split("\n\n")[1]}]` },
      }],
    });
  });
  const replies = await completionsApi({ url: chat.url, model: "m", kind: "chat" })(
    ["one", "two"],
    {
      maxNewTokens: 3,
    },
  );
  assert.deepEqual(replies, [" [one]", " [two]"]);
  assert.equal(chat.calls(), 2);
  assert.ok(!("prompt" in chat.bodies[0]) && chat.bodies[0].max_tokens === 3);
});

Deno.test("completionsApi() a resumed run's repeated requests come from the response cache", async () => {
  await using api = server((body) =>
    Response.json({
      choices: (body.prompt as string[]).map((_, i) => ({
        index: i,
        text: ` ${body.seed ?? "g"}${i}`,
      })),
    })
  );
  const dir = await Deno.makeTempDir({ prefix: "rlgf-api-cache-" });
  try {
    const path = `${dir}/api_cache.jsonl`;
    const ask = async (seeded: boolean, temperature = 0.7) => {
      const stats = apiStats();
      const complete = completionsApi({
        url: api.url,
        model: "m",
        cache: await openResponseCache(path),
        stats,
      });
      const texts = await complete(["a", "b"], {
        maxNewTokens: 2,
        temperature,
        ...(seeded ? { seeds: [11, 12] } : {}),
      });
      return { texts, stats };
    };
    const first = await ask(true);
    assert.deepEqual(first.texts, [" 110", " 120"]); // a request per prompt, with its own seed
    assert.equal(first.stats.requests, 2);
    // a new client on the same file: no request, same answers
    const again = await ask(true);
    assert.deepEqual(again.texts, first.texts);
    assert.equal(again.stats.requests, 0);
    assert.equal(again.stats.cacheHits, 2);
    // unseeded sampling is never cached; greedy is
    assert.equal((await ask(false)).stats.requests, 1);
    assert.equal((await ask(false)).stats.requests, 1);
    assert.equal((await ask(false, 0)).stats.requests, 1);
    assert.equal((await ask(false, 0)).stats.requests, 0);
    // a torn last line (a crash mid-append) is skipped
    await Deno.writeTextFile(path, '{"key": "x", "compl', { append: true });
    assert.equal((await ask(true)).stats.requests, 0);
    assert.equal(api.calls(), 5); // seeded once (2 prompts), unseeded twice, greedy once
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("textGuide() over completionsApi: token-id prompts and seeds from the caller's stream", async () => {
  await using api = server((body) => choices(body.prompt, " great"));
  const guide = textGuide(completionsApi({ url: api.url, model: "m", tokenIds: true }), tokenizer);
  const sample = (rng: Rng) =>
    guide.generate([[1, 2], [1]], { maxNewTokens: 2, doSample: true, rng });
  assert.deepEqual(await sample(new Rng(3)), [[4], [4]]);
  await sample(new Rng(3));
  await sample(new Rng(4));
  // seeded sampling: one request per prompt (a seed is per request), token ids as the prompt
  assert.deepEqual(api.bodies.slice(0, 2).map((b) => b.prompt).sort(), [[[1]], [[1, 2]]]);
  const seeds = (call: number) =>
    api.bodies.slice(2 * call, 2 * call + 2).map((b) => b.seed).sort();
  assert.ok(seeds(0).every(Number.isInteger));
  assert.notEqual(seeds(0)[1], seeds(0)[0]); // each row its own seed
  assert.deepEqual(seeds(1), seeds(0)); // the same stream, the same seeds
  assert.notDeepEqual(seeds(2), seeds(0));
  // greedy sends no seed, and all prompts in one request
  await guide.generate([[1], [2]], { maxNewTokens: 2 });
  assert.ok(!("seed" in api.bodies.at(-1)!));
  assert.deepEqual(api.bodies.at(-1)!.prompt, [[1], [2]]);
});

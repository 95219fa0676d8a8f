/**
 * Issue 13: `serve` over HTTP against the tiny-gpt2 fixture's independent PyTorch reference —
 * greedy continuations, log-probs (of completions, and of prompts with echo), token-id prompts,
 * n > 1, stop strings, seeded sampling (the same whatever it is batched with), batching, the
 * queue limit, the key, and bad requests answered in OpenAI's error schema.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../models/backend.ts";
import { loadCausalLM } from "../models/checkpoint.ts";
import { loadSeq2SeqLM } from "../models/t5_checkpoint.ts";
import type { CompletionServiceOptions } from "./service.ts";
import { CompletionService, contextLengthOf } from "./service.ts";
import { serveModel, type ServeOptions } from "./server.ts";

await initBackend();

const dir = new URL("../tests/fixtures/tiny-gpt2", import.meta.url).pathname;
const reference = JSON.parse(await Deno.readTextFile(`${dir}/reference.json`));
const model = await loadCausalLM(dir);
const tokenizer = model.tokenizer!;

async function withServer(
  body: (post: Post, base: string, service: CompletionService) => Promise<void>,
  options: { service?: CompletionServiceOptions; http?: ServeOptions } = {},
) {
  const service = new CompletionService(
    { name: "tiny", model, tokenizer, contextLength: contextLengthOf(model) },
    options.service,
  );
  const server = serveModel(service, { port: 0, ...options.http });
  const post: Post = async (path, json, headers = {}) => {
    const response = await fetch(`${server.baseUrl}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: typeof json === "string" ? json : JSON.stringify(json),
    });
    return { status: response.status, headers: response.headers, json: await response.json() };
  };
  try {
    await body(post, server.baseUrl, service);
  } finally {
    await server.close();
  }
}

type Post = (
  path: string,
  json: unknown,
  headers?: Record<string, string>,
) => Promise<{ status: number; headers: Headers; json: Json }>;

// deno-lint-ignore no-explicit-any
type Json = Record<string, any>; // response bodies, read field by field

const close = (a: number, b: number, what: string) =>
  assert.ok(Math.abs(a - b) <= 1e-4, `${what}: ${a} vs ${b}`);

Deno.test("serve: greedy completions equal the reference, with the reference's log-probs", async () => {
  await withServer(async (post) => {
    const greedy = reference.greedy as {
      prompt: string;
      prompt_ids: number[];
      new_ids: number[];
      new_token_logprobs: number[];
    }[];
    const { status, json } = await post("/completions", {
      model: "tiny",
      prompt: greedy.map((g) => g.prompt),
      max_tokens: 20,
      temperature: 0,
      logprobs: 3,
    });
    assert.equal(status, 200, JSON.stringify(json));
    assert.equal(json.object, "text_completion");
    greedy.forEach((g, i) => {
      const choice = json.choices[i];
      assert.equal(choice.index, i);
      assert.equal(choice.text, tokenizer.decode(g.new_ids));
      assert.equal(choice.finish_reason, "length");
      g.new_token_logprobs.forEach((lp, t) =>
        close(choice.logprobs.token_logprobs[t], lp, `${i}/${t}`)
      );
      // greedy: the chosen token is the most likely one
      const [best] = Object.entries(choice.logprobs.top_logprobs[0] as Record<string, number>)
        .sort((a, b) => b[1] - a[1]);
      assert.equal(best[0], choice.logprobs.tokens[0]);
      assert.equal(choice.logprobs.text_offset[1], choice.logprobs.tokens[0].length);
    });
    assert.deepEqual(json.usage, {
      prompt_tokens: greedy.reduce((n, g) => n + g.prompt_ids.length, 0),
      completion_tokens: 40,
      total_tokens: greedy.reduce((n, g) => n + g.prompt_ids.length, 0) + 40,
    });
    // token-id prompts, one and a list, continue the same way
    const one = await post("/completions", {
      model: "tiny",
      prompt: greedy[0].prompt_ids,
      max_tokens: 20,
      temperature: 0,
    });
    assert.equal(one.json.choices[0].text, tokenizer.decode(greedy[0].new_ids));
    const both = await post("/completions", {
      model: "tiny",
      prompt: greedy.map((g) => g.prompt_ids),
      max_tokens: 20,
      temperature: 0,
    });
    assert.deepEqual(
      both.json.choices.map((c: { text: string }) => c.text),
      greedy.map((g) => tokenizer.decode(g.new_ids)),
    );
  });
});

Deno.test("serve: echo with max_tokens 0 scores the prompt as the reference does", async () => {
  await withServer(async (post) => {
    const cases = (reference.cases as {
      name: string;
      input_ids: number[][];
      next_token_logprobs: number[][];
    }[])
      .filter((c) => c.name === "len7" || c.name === "len32");
    for (const c of cases) {
      const { status, json } = await post("/completions", {
        model: "tiny",
        prompt: c.input_ids[0],
        max_tokens: 0,
        echo: true,
        logprobs: 0,
      });
      assert.equal(status, 200, JSON.stringify(json));
      const lp = json.choices[0].logprobs;
      assert.equal(lp.token_logprobs[0], null);
      assert.equal(lp.tokens.length, c.input_ids[0].length);
      c.next_token_logprobs[0].forEach((v, t) =>
        close(lp.token_logprobs[t + 1], v, `${c.name}/${t}`)
      );
      assert.equal(json.choices[0].text, tokenizer.decode(c.input_ids[0]));
    }
  });
});

Deno.test("serve: n > 1, seeded sampling reproducible whatever it is batched with, stop strings", async () => {
  await withServer(async (post, _base, service) => {
    const ask = (seed: number, extra: Record<string, unknown> = {}) =>
      post("/completions", {
        model: "tiny",
        prompt: "Once upon a time",
        max_tokens: 12,
        temperature: 1,
        n: 3,
        seed,
        ...extra,
      });
    const alone = await ask(7);
    assert.equal(alone.status, 200, JSON.stringify(alone.json));
    const texts = alone.json.choices.map((c: { text: string }) => c.text);
    assert.deepEqual(alone.json.choices.map((c: { index: number }) => c.index), [0, 1, 2]);
    assert.equal(new Set(texts).size, 3, `three different samples: ${texts}`);
    // the same request while others fill the batch: the same samples
    const batchesBefore = service.stats().batches;
    const [crowded] = await Promise.all([
      ask(7),
      ...[1, 2, 3, 4, 5].map((s) => ask(s)),
    ]);
    assert.deepEqual(crowded.json.choices.map((c: { text: string }) => c.text), texts);
    assert.ok(service.stats().batches - batchesBefore < 6, "concurrent requests share batches");
    assert.notDeepEqual((await ask(8)).json.choices.map((c: { text: string }) => c.text), texts);
    // a stop string: the text ends just before it
    const greedy = await post("/completions", {
      model: "tiny",
      prompt: "The quick brown fox",
      max_tokens: 20,
      temperature: 0,
    });
    const full: string = greedy.json.choices[0].text;
    const stop = full.slice(6, 9);
    const stopped = await post("/completions", {
      model: "tiny",
      prompt: "The quick brown fox",
      max_tokens: 20,
      temperature: 0,
      stop: [stop],
      logprobs: 0,
    });
    const choice = stopped.json.choices[0];
    assert.equal(choice.text, full.slice(0, full.indexOf(stop)));
    assert.equal(choice.finish_reason, "stop");
    assert.ok(choice.logprobs.tokens.join("").length <= choice.text.length);
  });
});

Deno.test("serve: chat completions, models, health", async () => {
  await withServer(async (post, base) => {
    const { status, json } = await post("/chat/completions", {
      model: "tiny",
      messages: [{ role: "user", content: "Say hello" }],
      max_tokens: 5,
      temperature: 0,
      logprobs: true,
      top_logprobs: 2,
    });
    assert.equal(status, 200, JSON.stringify(json));
    assert.equal(json.object, "chat.completion");
    assert.equal(json.choices[0].message.role, "assistant");
    assert.equal(typeof json.choices[0].message.content, "string");
    assert.equal(json.choices[0].logprobs.content[0].top_logprobs.length, 2);
    // the same as completing the plain template
    const plain = await post("/completions", {
      model: "tiny",
      prompt: "User: Say hello\nAssistant:",
      max_tokens: 5,
      temperature: 0,
      stop: ["\nUser:", "\nSystem:"],
    });
    assert.equal(json.choices[0].message.content, plain.json.choices[0].text);
    const models = await (await fetch(`${base}/models`)).json();
    assert.equal(models.data[0].id, "tiny");
    assert.equal(models.data[0].max_model_len, 128);
    const health = await fetch(`${base.replace(/\/v1$/, "")}/health`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
    const metrics = await (await fetch(`${base.replace(/\/v1$/, "")}/metrics`)).text();
    assert.match(metrics, /^rlgf_requests_total 2$/m);
    assert.match(metrics, /^rlgf_generation_tokens_total 10$/m);
  });
});

Deno.test("serve: bad requests are 4xx in OpenAI's error schema", async () => {
  await withServer(async (post, base) => {
    const expectError = async (
      call: Promise<{ status: number; json: Json }>,
      status: number,
      pattern: RegExp,
      param?: string,
    ) => {
      const { status: got, json } = await call;
      assert.equal(got, status, JSON.stringify(json));
      assert.equal(typeof json.error?.message, "string");
      assert.equal(typeof json.error?.type, "string");
      assert.ok("param" in json.error && "code" in json.error);
      assert.match(json.error.message, pattern);
      if (param) assert.equal(json.error.param, param);
    };
    const ok = { model: "tiny", prompt: "Hello", max_tokens: 2 };
    await expectError(
      post("/completions", { ...ok, model: "gpt-4" }),
      404,
      /gpt-4.*does not exist/,
      "model",
    );
    await expectError(
      post("/completions", { ...ok, max_tokens: -1 }),
      400,
      /max_tokens/,
      "max_tokens",
    );
    await expectError(
      post("/completions", { ...ok, max_tokens: 200 }),
      400,
      /maximum context length is 128/,
    );
    await expectError(post("/completions", "{not json"), 400, /not valid JSON/);
    await expectError(post("/completions", { ...ok, stream: true }), 400, /stream/, "stream");
    await expectError(
      post("/completions", { ...ok, temprature: 0 }),
      400,
      /temprature/,
      "temprature",
    );
    await expectError(post("/completions", { ...ok, prompt: [[1, 99999]] }), 400, /99999/);
    await expectError(post("/completions", { ...ok, prompt: "" }), 400, /empty/);
    await expectError(post("/completions", { ...ok, temperature: -1 }), 400, /temperature/);
    await expectError(post("/completions", { ...ok, prompt: 5 }), 400, /prompt/, "prompt");
    await expectError(
      post("/completions", { ...ok, prompt: ["a", "b", "c"], n: 100 }),
      413,
      /300 completions.*at most 256/,
      "n",
    );
    await expectError(post("/nope", ok), 404, /No route/);
    const get = await fetch(`${base}/completions`);
    assert.equal(get.status, 405);
    await get.body?.cancel();
  });
  await withServer(async (post) => {
    await post("/completions", { model: "tiny", prompt: "x".repeat(64), max_tokens: 1 }).then(
      ({ status, json }) => {
        assert.equal(status, 413);
        assert.match(json.error.message, /larger than 50 bytes/);
      },
    );
  }, { http: { maxBodyBytes: 50 } });
});

Deno.test("serve: with a key, every route but /health needs it", async () => {
  await withServer(async (post, base) => {
    const ok = { model: "tiny", prompt: "Hello", max_tokens: 2, temperature: 0 };
    const none = await post("/completions", ok);
    assert.equal(none.status, 401);
    assert.equal(none.json.error.code, "invalid_api_key");
    assert.equal((await post("/completions", ok, { authorization: "Bearer wrong" })).status, 401);
    assert.equal((await post("/completions", ok, { authorization: "Bearer sekrit" })).status, 200);
    const models = await fetch(`${base}/models`);
    assert.equal(models.status, 401);
    await models.body?.cancel();
    const health = await fetch(`${base.replace(/\/v1$/, "")}/health`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
  }, { http: { apiKey: "sekrit" } });
});

Deno.test("serve: a full queue answers 429 with Retry-After; no tensor leaks", async () => {
  const before = tf.memory().numTensors;
  await withServer(async (post) => {
    const answers = await Promise.all(
      Array.from(
        { length: 6 },
        () => post("/completions", { model: "tiny", prompt: "Hi", max_tokens: 3, temperature: 0 }),
      ),
    );
    const refused = answers.filter((a) => a.status === 429);
    assert.ok(refused.length > 0, "some requests find the queue full");
    assert.ok(answers.some((a) => a.status === 200));
    for (const r of refused) {
      assert.equal(r.headers.get("retry-after"), "2");
      assert.equal(r.json.error.type, "rate_limit_error");
    }
  }, {
    service: { queue: { maxQueuedRows: 2, maxWaitMs: 50 } },
    http: { retryAfterSeconds: 2 },
  });
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("serve: a T5 folder — greedy completions and log-probs equal the reference", async () => {
  const t5Dir = new URL("../tests/fixtures/tiny-t5", import.meta.url).pathname;
  const t5Reference = JSON.parse(await Deno.readTextFile(`${t5Dir}/reference.json`));
  const t5 = await loadSeq2SeqLM(t5Dir);
  const service = new CompletionService({
    name: "tiny-t5",
    model: t5,
    tokenizer: t5.tokenizer!,
    contextLength: contextLengthOf(t5),
  });
  const server = serveModel(service, { port: 0 });
  try {
    const ask = async (body: Record<string, unknown>) => {
      const response = await fetch(`${server.baseUrl}/completions`, {
        method: "POST",
        body: JSON.stringify({ model: "tiny-t5", ...body }),
      });
      return { status: response.status, json: await response.json() };
    };
    for (const g of t5Reference.greedy) {
      const { status, json } = await ask({
        prompt: [g.input_ids],
        max_tokens: g.max_new_tokens,
        temperature: 0,
        logprobs: 1,
      });
      assert.equal(status, 200, JSON.stringify(json));
      const ids: number[] = g.eos_in_new_ids ? g.new_ids.slice(0, -1) : g.new_ids;
      assert.equal(json.choices[0].text, t5.tokenizer!.decode(ids));
      ids.forEach((_, t) =>
        close(json.choices[0].logprobs.token_logprobs[t], g.new_token_logprobs[t], `t5 ${t}`)
      );
    }
    const echo = await ask({ prompt: "hello", max_tokens: 1, echo: true, logprobs: 0 });
    assert.equal(echo.status, 400);
    assert.match(echo.json.error.message, /seq2seq/);
  } finally {
    await server.close();
    t5.dispose();
  }
});

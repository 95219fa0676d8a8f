import assert from "node:assert/strict";
import { InputError } from "../core/errors.ts";
import { completionsApi, textGuide } from "./text_guide.ts";
import type { Tokenizer } from "./types.ts";

// A word-level tokenizer: id 0 is EOS, each other id a word with its leading space.
const words = ["<eos>", "the", " film", " was", " great", " bad", " fun"];
const tokenizer: Tokenizer = {
  vocabSize: words.length,
  eosTokenId: 0,
  padTokenId: 0,
  encode: (text) => (text.match(/<eos>| ?[a-z]+/g) ?? []).map((w) => words.indexOf(w)),
  decode: (ids) => ids.map((i) => words[i]).join(""),
};

Deno.test("textGuide() re-tokenises the completion with the learner's tokenizer and truncates per row", async () => {
  const seen: string[][] = [];
  const guide = textGuide((prompts) => {
    seen.push(prompts);
    return Promise.resolve(prompts.map(() => " was great fun"));
  }, tokenizer);
  const out = await guide.generate([[1, 2], [1]], { maxNewTokens: [3, 2] });
  assert.deepEqual(seen, [["the film", "the"]]);
  assert.deepEqual(out, [[3, 4, 6], [3, 4]]);
});

Deno.test("textGuide() stops a row at EOS and rejects a wrong number of completions", async () => {
  const guide = textGuide((p) => Promise.resolve(p.map(() => " great<eos> bad")), tokenizer);
  assert.deepEqual(await guide.generate([[1]], { maxNewTokens: 5 }), [[4, 0]]);
  const broken = textGuide(() => Promise.resolve([]), tokenizer);
  await assert.rejects(
    () => broken.generate([[1]], { maxNewTokens: 2 }),
    /returned 0 completions for 1 prompts/,
  );
});

Deno.test("completionsApi() posts an OpenAI-style request to a local server and reads the choices", async () => {
  let received: Record<string, unknown> | null = null;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    received = await request.json();
    const prompts = received!.prompt as string[];
    return Response.json({
      choices: prompts.map((_, i) => ({ index: i, text: i === 0 ? " was fun" : " was bad" })),
    });
  });
  try {
    const url = `http://127.0.0.1:${server.addr.port}/v1/completions`;
    const guide = textGuide(completionsApi({ url, model: "guide-1" }), tokenizer);
    const out = await guide.generate([[1, 2], [1]], { maxNewTokens: 4 });
    assert.deepEqual(out, [[3, 6], [3, 5]]);
    assert.equal(received!.model, "guide-1");
    assert.equal(received!.max_tokens, 4);
  } finally {
    await server.shutdown();
  }
});

Deno.test("completionsApi() reports an HTTP error with the URL after its retries", async () => {
  let calls = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    calls++;
    return new Response("overloaded", { status: 503 });
  });
  try {
    const url = `http://127.0.0.1:${server.addr.port}/v1/completions`;
    await assert.rejects(
      () => completionsApi({ url, model: "m", retries: 1 })(["x"], { maxNewTokens: 1 }),
      /HTTP 503/,
    );
    assert.equal(calls, 2);
  } finally {
    await server.shutdown();
  }
});

Deno.test("completionsApi() failures are one-line input errors naming the URL (no stack trace in the CLI)", async () => {
  // A server that answers with a page that is not JSON, then a port nobody listens on.
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("<html>\n<body>oops</body>\n</html>", { status: 200 }),
  );
  const url = `http://127.0.0.1:${server.addr.port}/v1/completions`;
  const failures: Error[] = [];
  try {
    await completionsApi({ url, model: "m", retries: 0 })(["x"], { maxNewTokens: 1 })
      .catch((e) => failures.push(e));
  } finally {
    await server.shutdown();
  }
  // the server is gone: the connection is refused
  await completionsApi({ url, model: "m", retries: 1 })(["x"], { maxNewTokens: 1 })
    .catch((e) => failures.push(e));
  assert.equal(failures.length, 2);
  assert.match(
    failures[0].message,
    /^http:.*: the text API guide failed \(1 attempt\): response is not JSON/,
  );
  assert.match(failures[1].message, /^http:.*: the text API guide failed \(2 attempts\): /);
  for (const error of failures) {
    assert.ok(error instanceof InputError); // the CLI prints `error: <line>`, no stack trace
    assert.ok(!error.message.includes("\n"), error.message);
    assert.ok(error.message.startsWith(url));
  }
});

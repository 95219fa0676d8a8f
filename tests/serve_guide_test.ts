/**
 * Issue 13: a training run whose guide is behind `serve` over HTTP (the production client:
 * token-id prompts, seeded sampling, concurrency, batching on the server) gives the same
 * metrics as the same guide model answering in-process, same seed.
 */
import assert from "node:assert/strict";
import { lastValueFrom, toArray } from "rxjs";
import { Rng } from "../core/prng.ts";
import { initBackend } from "../models/backend.ts";
import { apiStats, completionsApi } from "../models/completions_api.ts";
import { loadCausalLM } from "../models/checkpoint.ts";
import { createGPT2 } from "../models/gpt2.ts";
import { type CompleteText, textGuide } from "../models/text_guide.ts";
import { runAlgorithm } from "../pipelines/run_algorithm.ts";
import { disposeAlgorithmState } from "../pipelines/state.ts";
import { inProcessCompletions } from "../serve/in_process.ts";
import { serveModel } from "../serve/server.ts";
import { CompletionService, contextLengthOf } from "../serve/service.ts";
import { toySparseTask, ToyTokenizer } from "../tasks/toy.ts";
import { TINY_GPT, toyOptions, toyState } from "./_toy_setup.ts";

await initBackend();

Deno.test("a guide served over HTTP trains exactly like the same guide in-process", async () => {
  const tokenizer = new ToyTokenizer();
  const guideModel = createGPT2(TINY_GPT, new Rng(99).child("guide"));
  const service = () =>
    new CompletionService({
      name: "toy-guide",
      model: guideModel,
      tokenizer,
      contextLength: contextLengthOf(guideModel),
    });
  const task = toySparseTask({ maxNewTokens: 4 });
  const train = async (complete: CompleteText, algorithm: string) => {
    // min_tokens = the horizon: the random guide model's EOS never leaves a row empty
    const options = toyOptions({
      iterations: 2,
      d2lols: { switchIteration: 1 },
      generation: { maxNewTokens: 4, minNewTokens: 4 },
    });
    const state = await toyState(task, 3, options, {
      guide: textGuide(complete, tokenizer),
      guideCritic: true,
    });
    try {
      return await lastValueFrom(
        runAlgorithm(algorithm, state, options, { clock: () => 0 }).pipe(toArray()),
      );
    } finally {
      disposeAlgorithmState(state);
    }
  };
  const local = service();
  const http = service();
  const server = serveModel(http, { port: 0 });
  try {
    const stats = apiStats();
    const overHttp = completionsApi({
      url: `${server.baseUrl}/completions`,
      model: "toy-guide",
      tokenIds: true,
      concurrency: 4,
      stats,
    });
    for (const algorithm of ["aggrevated", "d2lols"]) {
      const a = await train(overHttp, algorithm);
      const b = await train(inProcessCompletions(local), algorithm);
      assert.deepEqual(a, b, algorithm);
      assert.ok(a.every((m) => "reward_mean" in m && Number.isFinite(m.reward_mean)));
    }
    assert.ok(stats.requests > 0 && stats.retries === 0, JSON.stringify(stats));
    assert.ok(http.stats().meanBatchRows > 1, "the server batched concurrent requests");
  } finally {
    await server.close();
    await local.close();
    guideModel.dispose();
  }
});

Deno.test("the API guide client talks to serve in both kinds: completions and chat", async () => {
  const dir = new URL("./fixtures/tiny-gpt2", import.meta.url).pathname;
  const model = await loadCausalLM(dir);
  const tokenizer = model.tokenizer!;
  const service = new CompletionService({
    name: "tiny",
    model,
    tokenizer,
    contextLength: contextLengthOf(model),
  });
  const server = serveModel(service, { port: 0 });
  try {
    const prompts = ["The movie was", "I think that"];
    const request = { maxNewTokens: 8, temperature: 0 };
    const viaCompletions = await completionsApi({
      url: `${server.baseUrl}/completions`,
      model: "tiny",
    })(prompts, request);
    assert.deepEqual(viaCompletions, await inProcessCompletions(service)(prompts, request));
    const viaChat = await completionsApi({
      url: `${server.baseUrl}/chat/completions`,
      model: "tiny",
      kind: "chat",
    })(prompts, request);
    // chat sends each prompt as a user message in the plain template
    const direct = await Promise.all(prompts.map((p) =>
      service.chatCompletions({
        model: "tiny",
        messages: [{
          role: "user",
          content: `Continue the following text. Reply with the continuation only.\n\n${p}`,
        }],
        max_tokens: 8,
        temperature: 0,
      }) as Promise<{ choices: { message: { content: string } }[] }>
    ));
    assert.deepEqual(viaChat, direct.map((d) => d.choices[0].message.content));
  } finally {
    await server.close();
    model.dispose();
  }
});

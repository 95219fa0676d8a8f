/**
 * Issue 14: LoRA serving (vLLM's routes) — an adapter loaded at run time is served under its
 * name with PyTorch's log-probs (tests/fixtures/tiny-gpt2-lora), the base stays as it was,
 * unloading removes it, and mistakes are answered in OpenAI's error schema.
 */
import assert from "node:assert/strict";
import { initBackend } from "../models/backend.ts";
import { loadCausalLM } from "../models/checkpoint.ts";
import { ModelRegistry, serveLoraAdapters } from "./registry.ts";
import { serveModel } from "./server.ts";
import { CompletionService, contextLengthOf } from "./service.ts";

await initBackend();
const base = new URL("../tests/fixtures/tiny-gpt2", import.meta.url).pathname;
const fixture = new URL("../tests/fixtures/tiny-gpt2-lora", import.meta.url).pathname;
const baseReference = JSON.parse(await Deno.readTextFile(`${base}/reference.json`));
const loraReference = JSON.parse(await Deno.readTextFile(`${fixture}/reference.json`));

Deno.test("serve with LoRA: load an adapter, serve it by name as PyTorch scores it, unload it", async () => {
  const model = await loadCausalLM(base);
  const registry = new ModelRegistry([
    new CompletionService({
      name: "tiny",
      model,
      tokenizer: model.tokenizer!,
      contextLength: contextLengthOf(model),
    }),
  ]);
  const lora = serveLoraAdapters(registry, model, { engine: "auto" });
  const server = serveModel(registry, { port: 0 });
  const post = async (path: string, body: unknown) => {
    const r = await fetch(`${server.baseUrl}${path}`, {
      method: "POST",
      body: JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, text, json: text.startsWith("{") ? JSON.parse(text) : null };
  };
  const score = async (name: string) => {
    const { status, json } = await post("/completions", {
      model: name,
      prompt: [loraReference.input_ids],
      max_tokens: 0,
      echo: true,
      logprobs: 0,
    });
    assert.equal(status, 200, JSON.stringify(json));
    return (json.choices[0].logprobs.token_logprobs as number[]).slice(1);
  };
  const close = (got: number[], want: number[], what: string) =>
    want.forEach((v, t) =>
      assert.ok(Math.abs(got[t] - v) <= 1e-4, `${what} ${t}: ${got[t]} vs ${v}`)
    );
  try {
    const loaded = await post("/load_lora_adapter", { lora_name: "tuned", lora_path: fixture });
    assert.equal(loaded.status, 200, loaded.text);
    assert.match(loaded.text, /Success: LoRA adapter 'tuned' added/);
    const models = await (await fetch(`${server.baseUrl}/models`)).json();
    assert.deepEqual(models.data.map((m: { id: string }) => m.id).sort(), ["tiny", "tuned"]);
    close(await score("tuned"), loraReference.next_token_logprobs, "adapter");
    const len7 = baseReference.cases.find((c: { name: string }) => c.name === "len7");
    close(await score("tiny"), len7.next_token_logprobs[0], "base");
    const again = await post("/load_lora_adapter", { lora_name: "tuned", lora_path: fixture });
    assert.equal(again.status, 400);
    assert.match(again.json.error.message, /already been loaded/);
    const bad = await post("/load_lora_adapter", { lora_name: "x", lora_path: "/no/such" });
    assert.equal(bad.status, 400);
    assert.match(bad.json.error.message, /\/no\/such\/adapter_config\.json: cannot read/);
    const unloaded = await post("/unload_lora_adapter", { lora_name: "tuned" });
    assert.equal(unloaded.status, 200, unloaded.text);
    const gone = await post("/completions", { model: "tuned", prompt: "Hi", max_tokens: 1 });
    assert.equal(gone.status, 404);
    assert.equal(gone.json.error.code, "model_not_found");
    assert.equal((await post("/unload_lora_adapter", { lora_name: "tuned" })).status, 404);
    assert.equal((await post("/load_lora_adapter", { lora_name: "" })).status, 400);
  } finally {
    await server.close();
    await lora.dispose();
    model.dispose();
  }
});

Deno.test("serve without --enable-lora has no LoRA routes", async () => {
  const model = await loadCausalLM(base);
  const server = serveModel(
    new CompletionService({ name: "tiny", model, tokenizer: model.tokenizer!, contextLength: 128 }),
    { port: 0 },
  );
  try {
    const r = await fetch(`${server.baseUrl}/load_lora_adapter`, {
      method: "POST",
      body: JSON.stringify({ lora_name: "a", lora_path: fixture }),
    });
    assert.equal(r.status, 404);
    await r.body?.cancel();
  } finally {
    await server.close();
    model.dispose();
  }
});

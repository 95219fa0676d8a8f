/**
 * `deno task serve --model DIR`: an OpenAI-compatible server (completions, chat completions,
 * models, health) for a Hugging Face GPT-2 or T5 folder, on ONNX Runtime when it loads there,
 * batching concurrent requests into shared forward passes. Stops on Ctrl-C or SIGTERM after
 * the requests in flight.
 * @module
 */
import { parseHubId, resolveModelDir } from "../models/hub.ts";
import { LlamaLM } from "../models/llama.ts";
import { InputError } from "../core/errors.ts";
import { initBackend } from "../models/backend.ts";
import { type EngineMode, onEngine, openEngine } from "../models/engine/mod.ts";
import { loadPolicy } from "../models/t5_checkpoint.ts";
import { CompletionService, contextLengthOf } from "../serve/service.ts";
import { ModelRegistry, serveLoraAdapters } from "../serve/registry.ts";
import { GPT2LM } from "../models/gpt2.ts";
import { type RunningServer, serveModel } from "../serve/server.ts";
import { exists } from "./_cache.ts";
import { type CliIo, CONSOLE_IO, runCommand } from "./cli_io.ts";
import { choiceFlag, FlagError, integerFlag, parseFlags } from "./flags.ts";

const HELP = `Usage: deno task serve --model DIR [options]

Serves the model over OpenAI's API: POST /v1/completions (prompt as text, a list of texts, token
ids or a list of token-id lists; max_tokens, temperature (0 = greedy), top_p, top_k, n, stop,
seed, logprobs, echo), POST /v1/chat/completions (a plain "Role: text" template), GET /v1/models,
GET /health.

Options:
  --model DIR          a Hugging Face GPT-2 or T5 folder with its tokenizer.json
  --name NAME          the model's name in requests (default: the folder's name)
  --host HOST          the address to bind (default 127.0.0.1; 0.0.0.0 opens it to the network)
  --port N             the port (default 8000; 0 = any free port)
  --api-key-env VAR    require the key in environment variable VAR (Authorization: Bearer ...)
                       on every route but /health
  --engine MODE        auto (ONNX Runtime when it loads, default), onnx, tfjs
  --max-batch N        rows decoded together at most (default 32)
  --batch-wait-ms N    how long a request waits for others to batch with (default 5)
  --max-queue N        rows waiting at most; beyond it requests get 429 (default 1024)
  --max-body-bytes N   larger request bodies get 413 (default 1048576)
  --seed N             seed of the requests that bring none (default 0)
  --enable-lora        GPT-2: POST /v1/load_lora_adapter {"lora_name", "lora_path"} serves a PEFT
                       adapter folder on the base as model lora_name; /v1/unload_lora_adapter
                       {"lora_name"} removes it (vLLM's routes)
  --max-loras N        adapters loaded at once at most (default 8)
  -h, --help           this text`;

/** A started server and how to stop it. */
export interface StartedServe {
  /** The server. */
  server: RunningServer;
  /** Stops it and frees the model. */
  stop(): Promise<void>;
}

/**
 * Loads the model and starts serving it.
 * @param argv the arguments after `deno task serve`
 * @param io where the address and notes go
 * @returns the server, or null when only help was printed
 */
export async function startServe(
  argv: string[],
  io: CliIo = CONSOLE_IO,
): Promise<StartedServe | null> {
  const { values } = parseFlags(argv, {
    model: { type: "string" },
    name: { type: "string" },
    host: { type: "string" },
    port: { type: "string" },
    "api-key-env": { type: "string" },
    engine: { type: "string" },
    "max-batch": { type: "string" },
    "batch-wait-ms": { type: "string" },
    "max-queue": { type: "string" },
    "max-body-bytes": { type: "string" },
    seed: { type: "string" },
    "enable-lora": { type: "boolean" },
    "max-loras": { type: "string" },
  });
  if (values.help) {
    io.out(HELP);
    return null;
  }
  if (typeof values.model !== "string") {
    throw new FlagError("flag --model is required: the model folder to serve (--model DIR)");
  }
  let dir = values.model.replace(/\/+$/, "") || "/";
  const engineMode = (choiceFlag("--engine", values.engine, ["auto", "onnx", "tfjs"], "engine") ??
    "auto") as EngineMode;
  const port = integerFlag("--port", values.port) ?? 8000;
  if (port > 65535) throw new FlagError(`flag --port: expected a port up to 65535, got ${port}`);
  let apiKey: string | undefined;
  const keyEnv = values["api-key-env"];
  if (keyEnv !== undefined) {
    apiKey = Deno.env.get(keyEnv);
    if (!apiKey) {
      throw new FlagError(`flag --api-key-env: environment variable ${keyEnv} is unset or empty`);
    }
  }
  if (!(await exists(dir)) && !parseHubId(dir)) {
    throw new InputError("model folder not found (--model; a hub id is org/name[@revision])", dir);
  }
  await initBackend();
  dir = await resolveModelDir(dir);
  const { model, engine, served } = await openServed(dir, engineMode, io);
  if (!model.tokenizer) {
    model.dispose();
    throw new InputError("Missing tokenizer.json: the model folder must hold its tokenizer", dir);
  }
  const name = values.name ?? dir.split("/").at(-1)!;
  const serviceOptions = {
    queue: {
      maxBatchRows: integerFlag("--max-batch", values["max-batch"], 1),
      maxWaitMs: integerFlag("--batch-wait-ms", values["batch-wait-ms"]),
      maxQueuedRows: integerFlag("--max-queue", values["max-queue"], 1),
    },
    seed: integerFlag("--seed", values.seed),
  };
  const service = new CompletionService(
    { name, model: served, tokenizer: model.tokenizer, contextLength: contextLengthOf(served) },
    serviceOptions,
  );
  const registry = new ModelRegistry([service]);
  let lora: { dispose(): Promise<void> } | null = null;
  if (values["enable-lora"]) {
    if (!(model instanceof GPT2LM)) {
      throw new FlagError("flag --enable-lora: LoRA serving takes a GPT-2 folder");
    }
    lora = serveLoraAdapters(registry, model, {
      engine: engineMode,
      service: serviceOptions,
      maxAdapters: integerFlag("--max-loras", values["max-loras"], 1),
    });
  }
  const server = serveModel(registry, {
    hostname: values.host ?? "127.0.0.1",
    port,
    ...(apiKey ? { apiKey } : {}),
    maxBodyBytes: integerFlag("--max-body-bytes", values["max-body-bytes"], 1),
  });
  const family = model instanceof LlamaLM
    ? "Llama"
    : (served as { seq2seq?: boolean }).seq2seq
    ? "T5"
    : "GPT-2";
  io.err(
    `serving ${name} (${family}, ${engine ? "ONNX Runtime" : "tfjs"}) at ${server.baseUrl}` +
      (keyEnv ? ` (key from ${keyEnv})` : " (no key)") + (lora ? ", LoRA adapters on" : ""),
  );
  // base and adapters together (an unloaded adapter's count goes with it)
  const totals = () => registry.stats();
  // a line of throughput now and then while traffic comes, so the operator sees it working
  let last = { requests: 0, tokens: 0, at: performance.now() };
  const ticker = setInterval(() => {
    const s = totals();
    if (s.requests === last.requests) return;
    const seconds = (performance.now() - last.at) / 1000;
    io.err(
      `served ${s.requests} requests | ${
        ((s.completionTokens - last.tokens) / seconds).toFixed(1)
      } tokens/s | mean batch ${s.meanBatchRows.toFixed(1)} rows | ${s.refused} refused`,
    );
    last = { requests: s.requests, tokens: s.completionTokens, at: performance.now() };
  }, 30_000);
  return {
    server,
    stop: async () => {
      clearInterval(ticker);
      await server.close();
      const s = totals();
      await lora?.dispose();
      await engine?.dispose();
      model.dispose();
      io.err(`stopped after ${s.requests} requests, ${s.completionTokens} tokens generated`);
    },
  };
}

/**
 * The command: serves until SIGINT or SIGTERM.
 * @param argv the arguments
 * @param io where output goes
 * @returns the exit code (0 ok, 1 error)
 */
export function main(argv: string[], io: CliIo = CONSOLE_IO): Promise<number> {
  return runCommand(async () => {
    const started = await startServe(argv, io);
    if (!started) return;
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      Deno.addSignalListener("SIGINT", stop);
      Deno.addSignalListener("SIGTERM", stop);
    });
    await started.stop();
  }, io);
}

if (import.meta.main) Deno.exit(await main(Deno.args));

/**
 * The model of a folder and what serves it: GPT-2 and T5 on the engine (or tfjs), the Llama
 * family on its engine (it has no TensorFlow.js forward).
 */
async function openServed(dir: string, mode: EngineMode, io: { err(line: string): void }) {
  const model = await loadPolicy(dir);
  if (model instanceof LlamaLM && mode === "tfjs") {
    model.dispose();
    throw new FlagError("flag --engine: a Llama-family model runs on ONNX Runtime only");
  }
  try {
    const engine = await openEngine(model.config, mode, {
      training: false,
      note: (message) => io.err(message),
    });
    return { model, engine, served: onEngine(model, engine) };
  } catch (error) {
    model.dispose();
    throw error;
  }
}

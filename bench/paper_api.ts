/**
 * A local OpenAI-compatible completions server (`POST /v1/completions`) backed by
 * a token-level model, so Table 3 can train through the black-box text interface
 * (models/text_guide.ts) without the network: the learner only ever sees text.
 * @module
 */
import type { Rng } from "../core/prng.ts";
import type { TokenGenerator, Tokenizer } from "../models/types.ts";

/** Options of {@linkcode serveCompletions}. */
export interface CompletionsServerOptions {
  /** The model's name in requests and responses. */
  model: string;
  /** Sampling stream; each request draws from its own child. */
  rng: Rng;
  /** Top-k applied when sampling (0 = off). @default 0 */
  topK?: number;
  /** Prompts are left-truncated to this many tokens. @default 64 */
  maxInputTokens?: number;
}

/** A running server. */
export interface CompletionsServer {
  /** The endpoint, `http://127.0.0.1:PORT/v1/completions`. */
  url: string;
  /** Requests answered so far. */
  requests(): number;
  /** Stops the server. */
  close(): Promise<void>;
}

function badRequest(message: string): Response {
  return Response.json({ error: { message, type: "invalid_request_error" } }, { status: 400 });
}

/**
 * Starts the server on 127.0.0.1 (a free port).
 *
 * @param model the backing model (any token generator, e.g. the BC guide)
 * @param tokenizer the model's tokenizer (prompts are encoded, completions decoded with it)
 * @param options name, sampling stream, top-k, prompt limit
 * @returns the running server
 */
export function serveCompletions(
  model: TokenGenerator,
  tokenizer: Tokenizer,
  options: CompletionsServerOptions,
): CompletionsServer {
  let count = 0;
  const handler = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    if (request.method !== "POST" || url.pathname !== "/v1/completions") {
      return Response.json({ error: { message: "Not found" } }, { status: 404 });
    }
    let body: Record<string, unknown>;
    try {
      body = await request.json();
    } catch {
      return badRequest("Body is not JSON");
    }
    const prompts = typeof body.prompt === "string" ? [body.prompt] : body.prompt;
    if (!Array.isArray(prompts) || !prompts.every((p) => typeof p === "string")) {
      return badRequest('Field "prompt" must be a string or an array of strings');
    }
    const maxTokens = body.max_tokens ?? 16;
    if (typeof maxTokens !== "number" || !Number.isInteger(maxTokens) || maxTokens < 1) {
      return badRequest('Field "max_tokens" must be a positive integer');
    }
    const temperature = body.temperature ?? 1;
    const topP = body.top_p ?? 1;
    if (typeof temperature !== "number" || temperature < 0) {
      return badRequest('Field "temperature" must be a non-negative number');
    }
    if (typeof topP !== "number" || topP <= 0 || topP > 1) {
      return badRequest('Field "top_p" must be a number in (0, 1]');
    }
    const limit = options.maxInputTokens ?? 64;
    const inputs = (prompts as string[]).map((p) => {
      const ids = tokenizer.encode(p);
      return ids.slice(Math.max(0, ids.length - limit));
    });
    const doSample = temperature > 0;
    const out = await model.generate(inputs, {
      maxNewTokens: maxTokens,
      doSample,
      ...(doSample
        ? { temperature, topP, topK: options.topK ?? 0, rng: options.rng.child(`request-${count}`) }
        : {}),
    });
    count++;
    const eos = tokenizer.eosTokenId;
    return Response.json({
      id: `cmpl-${count}`,
      object: "text_completion",
      model: options.model,
      choices: out.map((ids, index) => {
        const stopped = ids.at(-1) === eos;
        return {
          index,
          text: tokenizer.decode(stopped ? ids.slice(0, -1) : ids),
          finish_reason: stopped ? "stop" : "length",
        };
      }),
    });
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handler);
  const { port } = server.addr as Deno.NetAddr;
  return {
    url: `http://127.0.0.1:${port}/v1/completions`,
    requests: () => count,
    close: () => server.shutdown(),
  };
}

/**
 * The HTTP side of `serve`, on Deno's own server: OpenAI's routes over a
 * {@linkcode CompletionService}, an optional API key, a body size limit, and every error in
 * OpenAI's schema with its status. Binds 127.0.0.1 unless told otherwise.
 *
 * Routes: `POST /v1/completions`, `POST /v1/chat/completions`, `GET /v1/models`,
 * `GET /v1/models/{id}`, `GET /metrics` (Prometheus counters), `GET /health` (never needs
 * the key).
 * @module
 */
import { ModelRegistry } from "./registry.ts";
import { ApiError } from "./requests.ts";
import { CompletionService } from "./service.ts";

/** Options of {@linkcode openAiHandler} and {@linkcode serveModel}. */
export interface ServeOptions {
  /** The address to bind. @default "127.0.0.1" */
  hostname?: string;
  /** The port (0 = any free one). @default 8000 */
  port?: number;
  /** When set, every route but /health needs `Authorization: Bearer <key>`. */
  apiKey?: string;
  /** Request bodies larger than this are answered 413. @default 1048576 */
  maxBodyBytes?: number;
  /** Seconds a client is told to wait (`Retry-After`) when the queue is full. @default 1 */
  retryAfterSeconds?: number;
}

/** A running server. */
export interface RunningServer {
  /** The API's base URL, `http://HOST:PORT/v1`. */
  baseUrl: string;
  /** The port bound. */
  port: number;
  /** Stops taking connections, finishes the requests in flight and the queued work. */
  close(): Promise<void>;
}

function errorResponse(error: ApiError, headers: HeadersInit = {}): Response {
  return Response.json(error.toJSON(), { status: error.status, headers });
}

/** Equal strings in time that does not depend on where they differ. */
function sameKey(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

async function readJson(request: Request, limit: number): Promise<unknown> {
  const declared = Number(request.headers.get("content-length") ?? NaN);
  const tooLarge = () =>
    new ApiError(413, `The request body is larger than ${limit} bytes`, null, "body_too_large");
  if (declared > limit) throw tooLarge();
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (request.body) {
    for await (const chunk of request.body) {
      size += chunk.length;
      if (size > limit) throw tooLarge();
      chunks.push(chunk);
    }
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  const text = new TextDecoder().decode(bytes);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ApiError(
      400,
      `The body is not valid JSON (${(error as Error).message.split("\n")[0]})`,
      null,
      "invalid_json",
    );
  }
}

/**
 * The request handler (usable with any `Deno.serve`, or called directly in-process).
 * @param service the completion service
 * @param options key, body limit and Retry-After
 * @returns the handler
 */
export function openAiHandler(
  served: CompletionService | ModelRegistry,
  options: ServeOptions = {},
): (request: Request) => Promise<Response> {
  const models = served instanceof CompletionService ? new ModelRegistry([served]) : served;
  const limit = options.maxBodyBytes ?? 1 << 20;
  const retryAfter = String(options.retryAfterSeconds ?? 1);
  // a request goes to the service of the model it names
  const serviceFor = (body: unknown) => {
    const name = (body as { model?: unknown } | null)?.model;
    const service = typeof name === "string" ? models.get(name) : undefined;
    if (service) return service;
    if (typeof name !== "string") {
      throw new ApiError(
        400,
        '"model" must be the name of a served model',
        "model",
        "invalid_value",
      );
    }
    throw new ApiError(
      404,
      `The model \`${name}\` does not exist; this server serves ${
        models.all().map((s) => `\`${s.modelName}\``).join(", ")
      }`,
      "model",
      "model_not_found",
    );
  };
  const listing = () => ({
    object: "list",
    data: models.all().flatMap((s) => (s.listModels() as { data: unknown[] }).data),
  });
  const text = (body: string) => new Response(body, { headers: { "content-type": "text/plain" } });
  const loraField = (body: unknown, key: string) => {
    const v = (body as Record<string, unknown> | null)?.[key];
    if (typeof v !== "string" || v === "") {
      throw new ApiError(400, `"${key}" must be a non-empty string`, key);
    }
    return v;
  };
  const routes: Record<string, { method: string; answer: (r: Request) => Promise<unknown> }> = {
    "/v1/completions": {
      method: "POST",
      answer: async (r) => {
        const body = await readJson(r, limit);
        return await serviceFor(body).completions(body);
      },
    },
    "/v1/chat/completions": {
      method: "POST",
      answer: async (r) => {
        const body = await readJson(r, limit);
        return await serviceFor(body).chatCompletions(body);
      },
    },
    "/v1/models": { method: "GET", answer: () => Promise.resolve(listing()) },
  };
  if (models.lora) {
    const lora = models.lora;
    routes["/v1/load_lora_adapter"] = {
      method: "POST",
      answer: async (r) => {
        const body = await readJson(r, limit);
        const name = loraField(body, "lora_name");
        await lora.load(name, loraField(body, "lora_path"));
        return text(`Success: LoRA adapter '${name}' added successfully.`);
      },
    };
    routes["/v1/unload_lora_adapter"] = {
      method: "POST",
      answer: async (r) => {
        const name = loraField(await readJson(r, limit), "lora_name");
        await lora.unload(name);
        return text(`Success: LoRA adapter '${name}' removed successfully.`);
      },
    };
  }
  const metrics = () => {
    const s = models.stats();
    const lines = [
      ["requests", "completion and chat requests answered", s.requests],
      ["prompt_tokens", "prompt tokens read", s.promptTokens],
      ["generation_tokens", "tokens generated", s.completionTokens],
      ["batches", "batches decoded", s.batches],
      ["batch_rows", "rows decoded in batches", s.rows],
      ["refused", "requests refused with 429 (queue full)", s.refused],
    ].map(([name, help, value]) =>
      `# HELP rlgf_${name}_total ${help}\n# TYPE rlgf_${name}_total counter\nrlgf_${name}_total ${value}`
    );
    return new Response(lines.join("\n") + "\n", {
      headers: { "content-type": "text/plain; version=0.0.4" },
    });
  };
  return async (request) => {
    const path = new URL(request.url).pathname.replace(/\/+$/, "");
    if (path === "/health") return new Response(null, { status: 200 });
    try {
      if (options.apiKey !== undefined) {
        const header = request.headers.get("authorization") ?? "";
        const given = header.startsWith("Bearer ") ? header.slice(7).trim() : "";
        if (!sameKey(given, options.apiKey)) {
          throw new ApiError(
            401,
            given === ""
              ? "This server needs an API key: send Authorization: Bearer <key>"
              : "Incorrect API key provided",
            null,
            "invalid_api_key",
          );
        }
      }
      if (path === "/metrics" && request.method === "GET") return metrics();
      const model = path.match(/^\/v1\/models\/(.+)$/);
      if (model && request.method === "GET") {
        const id = decodeURIComponent(model[1]);
        const service = models.get(id);
        if (!service) {
          throw new ApiError(404, `The model \`${id}\` does not exist`, "model", "model_not_found");
        }
        return Response.json((service.listModels() as { data: unknown[] }).data[0]);
      }
      const route = routes[path];
      if (!route) throw new ApiError(404, `No route ${request.method} ${path}`, null, "not_found");
      if (request.method !== route.method) {
        return errorResponse(
          new ApiError(405, `${path} takes ${route.method}, not ${request.method}`),
          { allow: route.method },
        );
      }
      const answer = await route.answer(request);
      return answer instanceof Response ? answer : Response.json(answer);
    } catch (error) {
      if (error instanceof ApiError) {
        return errorResponse(error, error.status === 429 ? { "retry-after": retryAfter } : {});
      }
      const message = (error as Error)?.message?.split("\n")[0] ?? String(error);
      return errorResponse(new ApiError(500, `Internal error: ${message}`));
    }
  };
}

/**
 * Serves `service` over HTTP.
 * @param service the completion service
 * @param options address, port, key and limits
 * @returns the running server
 */
export function serveModel(
  service: CompletionService | ModelRegistry,
  options: ServeOptions = {},
): RunningServer {
  const hostname = options.hostname ?? "127.0.0.1";
  const server = Deno.serve(
    { hostname, port: options.port ?? 8000, onListen: () => {} },
    openAiHandler(service, options),
  );
  const { port } = server.addr as Deno.NetAddr;
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  return {
    baseUrl: `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${port}/v1`,
    port,
    close: async () => {
      await server.shutdown();
      await service.close();
    },
  };
}

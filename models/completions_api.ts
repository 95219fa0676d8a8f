/**
 * The client of an OpenAI-compatible text API (`/v1/completions` or `/v1/chat/completions`), the
 * black-box guide of the paper's GPT-3 experiments. Made to survive real servers: every request
 * has a timeout; network errors, 408, 429 and 5xx are retried with exponential backoff and jitter
 * (a `Retry-After` is honoured); other 4xx fail at once; a response that is not JSON, lacks
 * `choices` or has too few of them is an error naming the URL. Every failure is one line.
 * @module
 */
import { InputError } from "../core/errors.ts";
import { Rng } from "../core/prng.ts";
import type { CompleteText } from "./text_guide.ts";

/** Counts of the guide's interaction with the API (the paper's interaction budget). */
export interface ApiStats {
  /** HTTP requests sent, retries included. */
  requests: number;
  /** Requests sent again after a retryable failure. */
  retries: number;
  /** Prompts completed. */
  prompts: number;
  /** Characters of prompt text sent. */
  charsSent: number;
  /** Characters of completion text received. */
  charsReceived: number;
  /** Prompt tokens the server reports in `usage` (0 when it reports none). */
  promptTokens: number;
  /** Completion tokens the server reports in `usage`. */
  completionTokens: number;
  /** Prompts answered from the response cache, with no request. */
  cacheHits: number;
}

/** A fresh, zeroed {@linkcode ApiStats}. */
export function apiStats(): ApiStats {
  return {
    requests: 0,
    retries: 0,
    prompts: 0,
    charsSent: 0,
    charsReceived: 0,
    promptTokens: 0,
    completionTokens: 0,
    cacheHits: 0,
  };
}

/** Answers already paid for, by request key (see {@linkcode completionsApi}'s `cache`). */
export interface ResponseCache {
  /** The kept answer of a request, if any. */
  get(key: string): string | undefined;
  /** Keeps a request's answer. */
  set(key: string, completion: string): Promise<void>;
}

/**
 * A response cache kept in a JSONL file (one `{"key", "completion"}` per line, appended as
 * answers come), so a resumed run does not pay for what the first run already asked. A line cut
 * short by a crash is skipped when the file is read.
 * @param path the file (created when missing)
 * @returns the cache
 */
export async function openResponseCache(path: string): Promise<ResponseCache> {
  const entries = new Map<string, string>();
  let text = "";
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    try {
      const { key, completion } = JSON.parse(line);
      if (typeof key === "string" && typeof completion === "string") entries.set(key, completion);
    } catch {
      // a torn last line: that answer is asked again
    }
  }
  return {
    get: (key) => entries.get(key),
    async set(key, completion) {
      entries.set(key, completion);
      await Deno.writeTextFile(path, JSON.stringify({ key, completion }) + "\n", { append: true });
    },
  };
}

/** Options of {@linkcode completionsApi}. */
export interface CompletionsApiOptions {
  /** The endpoint, e.g. `http://127.0.0.1:8000/v1/completions` (or `.../chat/completions`). */
  url: string;
  /** The model name the API expects. */
  model: string;
  /** Sent as a Bearer token when given (never logged). */
  apiKey?: string;
  /**
   * "completions" (the prompt text as is, several prompts per request) or "chat" (one user
   * message per prompt asking for its continuation, as the paper prompted GPT-3). @default "completions"
   */
  kind?: "completions" | "chat";
  /** Seconds before a request is abandoned (and retried). @default 60 */
  timeoutSeconds?: number;
  /** Retries of a request after a network error, a timeout, 408, 429 or 5xx. @default 4 */
  maxRetries?: number;
  /** The first backoff in ms, doubled on each retry (with jitter), at most `maxBackoffMs`. @default 500 */
  backoffMs?: number;
  /** The longest backoff in ms. @default 20000 */
  maxBackoffMs?: number;
  /** Requests in flight at once. @default 4 */
  concurrency?: number;
  /**
   * Prompts per completions request (the API takes a list); chat, and seeded sampling (a seed
   * is per request), send one each. @default 16
   */
  batchSize?: number;
  /** Where the counts go (shared across calls). */
  stats?: ApiStats;
  /**
   * Send the learner's token ids as the prompt instead of its text (servers that accept them,
   * such as vLLM and `deno task serve`, continue the exact prefix: no re-tokenisation drift).
   * Completions API only. @default false
   */
  tokenIds?: boolean;
  /**
   * Answers kept per request, keyed by model, API kind, the request's prompts, sampling
   * parameters and seeds: the same request asked again (a resumed run replays its batches with
   * the same seeds) is answered from it. Sampled requests without seeds are never cached.
   */
  cache?: ResponseCache;
}

/** An API failure that is not worth retrying, or the last of the retries. */
class ApiFailure extends Error {
  constructor(message: string, readonly retryAfterMs: number | null, readonly retryable: boolean) {
    super(message);
  }
}

/** `Retry-After` in ms (seconds or an HTTP date), or null when absent or unreadable. */
export function retryAfterMs(header: string | null, now: number = Date.now()): number | null {
  if (header === null || header.trim() === "") return null;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(header);
  return Number.isFinite(date) ? Math.max(0, date - now) : null;
}

const RETRYABLE_STATUS = (status: number) => status === 408 || status === 429 || status >= 500;

/** The request body and the completions of one batch of prompts, for either API kind. */
function requestBody(
  kind: "completions" | "chat",
  model: string,
  prompts: string[] | number[][],
  request: Parameters<CompleteText>[1],
  seed: number | undefined,
  minTokens: number,
): unknown {
  const sampling = {
    max_tokens: request.maxNewTokens,
    // vLLM's (and serve's) extension: sent only when asked for, OpenAI does not know it
    ...(minTokens > 0 ? { min_tokens: minTokens } : {}),
    temperature: request.temperature ?? 0,
    top_p: request.topP ?? 1,
    ...(seed !== undefined ? { seed } : {}),
  };
  if (kind === "completions") return { model, prompt: prompts, ...sampling };
  return {
    model,
    messages: [{
      role: "user",
      content: `Continue the following text. Reply with the continuation only.\n\n${prompts[0]}`,
    }],
    ...sampling,
  };
}

function completionTexts(
  kind: "completions" | "chat",
  json: unknown,
  count: number,
): { texts: string[]; usage: { prompt: number; completion: number } } {
  const fail = (what: string) => new ApiFailure(what, null, false);
  if (typeof json !== "object" || json === null) throw fail("the response is not a JSON object");
  const { choices, usage } = json as { choices?: unknown; usage?: Record<string, unknown> };
  if (!Array.isArray(choices)) throw fail('the response has no "choices" array');
  const texts = new Array<string | undefined>(count).fill(undefined);
  choices.forEach((choice: Record<string, unknown>, i) => {
    const index = typeof choice?.index === "number" ? choice.index : i;
    const text = kind === "chat"
      ? (choice?.message as { content?: unknown } | undefined)?.content
      : choice?.text;
    if (typeof text !== "string") {
      throw fail(`choice ${i} has no ${kind === "chat" ? "message.content" : "text"} string`);
    }
    if (index >= 0 && index < count) texts[index] ??= text;
  });
  const missing = texts.filter((t) => t === undefined).length;
  if (missing > 0) {
    throw fail(`the response has ${count - missing} choices for ${count} prompts`);
  }
  const n = (v: unknown) => typeof v === "number" && Number.isFinite(v) ? v : 0;
  return {
    texts: texts as string[],
    usage: { prompt: n(usage?.prompt_tokens), completion: n(usage?.completion_tokens) },
  };
}

/**
 * A {@linkcode CompleteText} over an OpenAI-compatible API.
 * @param options the endpoint, model, key, API kind, timeouts, retries and batching
 * @returns the completion function (its errors are one-line {@linkcode InputError}s naming the URL)
 */
export function completionsApi(options: CompletionsApiOptions): CompleteText {
  const kind = options.kind ?? "completions";
  const timeoutMs = (options.timeoutSeconds ?? 60) * 1000;
  const maxRetries = options.maxRetries ?? 4;
  const backoffMs = options.backoffMs ?? 500;
  const maxBackoffMs = options.maxBackoffMs ?? 20000;
  const concurrency = Math.max(1, options.concurrency ?? 4);
  const batchSize = kind === "chat" ? 1 : Math.max(1, options.batchSize ?? 16);
  const stats = options.stats;
  // jitter changes only when a retry happens, never what is asked or answered
  const jitter = new Rng(0).child("api-jitter");

  async function once(body: string, count: number) {
    if (stats) stats.requests++;
    let response: Response;
    try {
      response = await fetch(options.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}),
        },
        body,
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      const name = (error as Error).name;
      const what = name === "TimeoutError" || name === "AbortError"
        ? `no answer within ${timeoutMs / 1000} s`
        : (error as Error).message.split("\n")[0];
      throw new ApiFailure(what, null, true);
    }
    if (!response.ok) {
      const text = (await response.text().catch(() => "")).replace(/\s+/g, " ").slice(0, 200);
      throw new ApiFailure(
        `HTTP ${response.status}${text ? `: ${text}` : ""}`,
        retryAfterMs(response.headers.get("retry-after")),
        RETRYABLE_STATUS(response.status),
      );
    }
    let json: unknown;
    const raw = await response.text();
    try {
      json = JSON.parse(raw);
    } catch {
      throw new ApiFailure(
        `the response is not JSON (it starts "${raw.replace(/\s+/g, " ").slice(0, 60)}")`,
        null,
        false,
      );
    }
    return completionTexts(kind, json, count);
  }

  async function withRetries(
    prompts: string[],
    request: Parameters<CompleteText>[1],
    ids: number[][] | undefined,
    seed: number | undefined,
    minTokens: number,
  ) {
    const prompt = options.tokenIds && kind === "completions" && ids ? ids : prompts;
    const body = JSON.stringify(
      requestBody(kind, options.model, prompt, request, seed, minTokens),
    );
    for (let attempt = 0;; attempt++) {
      try {
        const result = await once(body, prompts.length);
        if (stats) {
          stats.prompts += prompts.length;
          stats.charsSent += prompts.reduce((n, p) => n + p.length, 0);
          stats.charsReceived += result.texts.reduce((n, t) => n + t.length, 0);
          stats.promptTokens += result.usage.prompt;
          stats.completionTokens += result.usage.completion;
        }
        return result.texts;
      } catch (error) {
        const failure = error as ApiFailure;
        if (!failure.retryable || attempt >= maxRetries) {
          const attempts = attempt + 1;
          throw new InputError(
            `the text API guide failed (${attempts} attempt${attempts === 1 ? "" : "s"}): ${
              failure.message.split("\n")[0]
            }`,
            options.url,
          );
        }
        const exponential = Math.min(maxBackoffMs, backoffMs * 2 ** attempt);
        const wait = failure.retryAfterMs ??
          exponential / 2 + jitter.random() * exponential / 2;
        if (stats) stats.retries++;
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }

  // A request's key: everything that shapes its answer. The same batch asked again (a resumed
  // run replays its batches with the same seeds) is answered from the cache.
  const keyOf = (
    prompts: string[],
    request: Parameters<CompleteText>[1],
    seeds: number[] | null,
    minTokens: number,
  ) =>
    JSON.stringify([
      options.model,
      kind,
      prompts,
      request.maxNewTokens,
      ...(minTokens > 0 ? [minTokens] : []),
      request.temperature ?? 0,
      request.topP ?? 1,
      seeds,
    ]);

  return async (prompts, request) => {
    const sampled = (request.temperature ?? 0) > 0;
    // a sampled request without seeds has no reproducible answer to keep
    const cache = options.cache && (!sampled || request.seeds) ? options.cache : undefined;
    // OpenAI's seed is per request: seeded sampling sends each prompt with its own seed (a
    // batching server such as vLLM or `serve` puts concurrent requests in one pass anyway)
    const size = sampled && request.seeds ? 1 : batchSize;
    const batches: number[][] = [];
    for (let i = 0; i < prompts.length; i += size) {
      batches.push(prompts.slice(i, i + size).map((_, k) => i + k));
    }
    const out = new Array<string>(prompts.length);
    let next = 0;
    const worker = async () => {
      while (next < batches.length) {
        const rows = batches[next++];
        const texts = rows.map((i) => prompts[i]);
        // one min_tokens per request: the smallest of its prompts' (seeded prompts go alone)
        const minTokens = request.minNewTokens
          ? Math.min(...rows.map((i) => request.minNewTokens![i]))
          : 0;
        const key = cache
          ? keyOf(
            texts,
            request,
            request.seeds ? rows.map((i) => request.seeds![i]) : null,
            minTokens,
          )
          : "";
        const kept = cache?.get(key);
        let answers: string[];
        if (kept !== undefined) {
          answers = JSON.parse(kept);
          if (stats) stats.cacheHits += rows.length;
        } else {
          answers = await withRetries(
            texts,
            request,
            request.promptIds ? rows.map((i) => request.promptIds![i]) : undefined,
            request.seeds?.[rows[0]],
            minTokens,
          );
          await cache?.set(key, JSON.stringify(answers));
        }
        rows.forEach((i, k) => (out[i] = answers[k]));
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, batches.length) }, worker));
    return out;
  };
}

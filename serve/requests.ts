/**
 * The OpenAI request bodies `serve` answers, checked field by field: a bad field is an
 * {@linkcode ApiError} naming it (status 400, OpenAI's error schema), an unknown field too, so a
 * typo never passes silently. Fields a client sends with their neutral value (`stream: false`,
 * `presence_penalty: 0`, `logit_bias: {}` ...) are accepted; other values of them are refused.
 * @module
 */

/** An error answered in OpenAI's schema: `{"error": {"message", "type", "param", "code"}}`. */
export class ApiError extends Error {
  /**
   * Builds the error.
   * @param status the HTTP status
   * @param message what is wrong and what was expected
   * @param param the request field it concerns
   * @param code OpenAI's machine-readable code, when it has one
   */
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
    this.name = "ApiError";
  }

  /** OpenAI's `type` for the status. */
  get type(): string {
    if (this.status === 401) return "authentication_error";
    if (this.status === 429) return "rate_limit_error";
    if (this.status >= 500) return "server_error";
    return "invalid_request_error";
  }

  /** The error body. */
  toJSON(): {
    error: { message: string; type: string; param: string | null; code: string | null };
  } {
    return {
      error: { message: this.message, type: this.type, param: this.param, code: this.code },
    };
  }
}

/** Sampling settings common to both routes. */
export interface SamplingRequest {
  /** The model name asked for. */
  model: string;
  /** New tokens at most per choice; undefined = the route's default. */
  maxTokens: number | undefined;
  /** 0 = greedy. */
  temperature: number;
  /** Nucleus mass. */
  topP: number;
  /** Top-k (0 = off). */
  topK: number;
  /** Choices per prompt. */
  n: number;
  /** Stop strings (the text ends before the first one). */
  stop: string[];
  /** Seed of the choices' random streams, if given. */
  seed: number | undefined;
  /** Left-truncate prompts to this many tokens (vLLM's `truncate_prompt_tokens`). */
  truncatePromptTokens: number | undefined;
  /** EOS is suppressed until this many new tokens (vLLM's `min_tokens`). */
  minTokens: number;
  /** Never stop at EOS (vLLM's `ignore_eos`). */
  ignoreEos: boolean;
  /** Log-prob tokens as `token_id:N` (vLLM's `return_tokens_as_token_ids`). */
  tokensAsIds: boolean;
}

/** A checked `POST /v1/completions` body. */
export interface CompletionRequest extends SamplingRequest {
  /** Prompts as text or token ids. */
  prompts: (string | number[])[];
  /** Top log-probs per token (0 = only the chosen token's); undefined = none. */
  logprobs: number | undefined;
  /** Return the prompt before the completion (with its log-probs when asked). */
  echo: boolean;
}

/** One chat message. */
export interface ChatMessage {
  /** "system", "developer", "user" or "assistant". */
  role: string;
  /** Its text. */
  content: string;
}

/** A checked `POST /v1/chat/completions` body. */
export interface ChatRequest extends SamplingRequest {
  /** The conversation. */
  messages: ChatMessage[];
  /** Whether to return log-probs. */
  logprobs: boolean;
  /** Top log-probs per token with `logprobs`. */
  topLogprobs: number;
}

/** The most top log-probs a request may ask for (as vLLM). */
export const MAX_TOP_LOGPROBS = 20;

type Body = Record<string, unknown>;

const bad = (param: string, message: string) =>
  new ApiError(400, `"${param}" ${message}`, param, "invalid_value");

function isNumber(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v);
}

function optionalInteger(body: Body, key: string, min: number, max: number): number | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (!isNumber(v) || !Number.isInteger(v) || v < min || v > max) {
    throw bad(key, `must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
  }
  return v;
}

function numberIn(body: Body, key: string, fallback: number, min: number, max: number): number {
  const v = body[key];
  if (v === undefined || v === null) return fallback;
  if (!isNumber(v) || v < min || v > max) {
    throw bad(key, `must be a number in [${min}, ${max}], got ${JSON.stringify(v)}`);
  }
  return v;
}

/** Fields accepted only with the value that changes nothing. */
function neutralOnly(body: Body, key: string, isNeutral: (v: unknown) => boolean, what: string) {
  const v = body[key];
  if (v !== undefined && v !== null && !isNeutral(v)) {
    throw new ApiError(400, `"${key}" ${what} is not supported by this server`, key, "unsupported");
  }
}

function checkKnown(body: Body, known: readonly string[]) {
  for (const key of Object.keys(body)) {
    if (!known.includes(key)) {
      throw new ApiError(
        400,
        `Unrecognized request argument supplied: ${key}`,
        key,
        "unknown_field",
      );
    }
  }
}

const SAMPLING_FIELDS = [
  "model",
  "max_tokens",
  "temperature",
  "top_p",
  "top_k",
  "n",
  "stop",
  "seed",
  "truncate_prompt_tokens",
  "min_tokens",
  "ignore_eos",
  "return_tokens_as_token_ids",
  "stream",
  "stream_options",
  "presence_penalty",
  "frequency_penalty",
  "logit_bias",
  "user",
] as const;

function sampling(body: Body, maxTokensKey: string): SamplingRequest {
  if (typeof body.model !== "string" || body.model === "") {
    throw bad("model", "must be the name of a served model (GET /v1/models lists them)");
  }
  neutralOnly(body, "stream", (v) => v === false, "true (streaming)");
  neutralOnly(body, "stream_options", () => false, "");
  neutralOnly(body, "presence_penalty", (v) => v === 0, "other than 0");
  neutralOnly(body, "frequency_penalty", (v) => v === 0, "other than 0");
  neutralOnly(
    body,
    "logit_bias",
    (v) => typeof v === "object" && Object.keys(v as object).length === 0,
    "with entries",
  );
  if (body.user !== undefined && body.user !== null && typeof body.user !== "string") {
    throw bad("user", "must be a string");
  }
  let stop: string[] = [];
  if (typeof body.stop === "string") stop = [body.stop];
  else if (Array.isArray(body.stop)) stop = body.stop;
  else if (body.stop !== undefined && body.stop !== null) {
    throw bad("stop", "must be a string or a list of up to 4 strings");
  }
  if (stop.length > 4 || stop.some((s) => typeof s !== "string" || s === "")) {
    throw bad("stop", "must be a string or a list of up to 4 non-empty strings");
  }
  const topK = optionalInteger(body, "top_k", -1, 1_000_000) ?? 0;
  const maxTokens = optionalInteger(body, maxTokensKey, 0, 1_000_000);
  if (maxTokens === 0 && maxTokensKey !== "max_tokens") {
    throw bad(maxTokensKey, "must be at least 1");
  }
  return {
    model: body.model,
    maxTokens,
    temperature: numberIn(body, "temperature", 1, 0, 2),
    topP: numberIn(body, "top_p", 1, Number.MIN_VALUE, 1),
    topK: Math.max(0, topK), // -1 (vLLM) and 0 both mean off
    n: optionalInteger(body, "n", 1, 128) ?? 1,
    stop,
    seed: optionalInteger(body, "seed", 0, Number.MAX_SAFE_INTEGER),
    truncatePromptTokens: optionalInteger(body, "truncate_prompt_tokens", 1, 1_000_000),
    minTokens: optionalInteger(body, "min_tokens", 0, maxTokens ?? 1_000_000) ?? 0,
    ignoreEos: flag(body, "ignore_eos"),
    tokensAsIds: flag(body, "return_tokens_as_token_ids"),
  };
}

function flag(body: Body, key: string): boolean {
  const v = body[key];
  if (v !== undefined && v !== null && typeof v !== "boolean") {
    throw bad(key, "must be true or false");
  }
  return v === true;
}

function isTokenList(v: unknown): v is number[] {
  return Array.isArray(v) && v.length > 0 && v.every((x) => Number.isInteger(x));
}

/**
 * Checks a completions body.
 * @param body the parsed JSON
 * @returns the request
 * @throws {ApiError} naming the first bad field
 */
export function parseCompletionRequest(body: unknown): CompletionRequest {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new ApiError(400, "The body must be a JSON object");
  }
  const b = body as Body;
  checkKnown(b, [...SAMPLING_FIELDS, "prompt", "logprobs", "echo", "best_of", "suffix"]);
  const base = sampling(b, "max_tokens");
  neutralOnly(b, "suffix", () => false, "");
  neutralOnly(b, "best_of", (v) => v === base.n, "other than n");
  const p = b.prompt;
  let prompts: (string | number[])[];
  if (typeof p === "string") prompts = [p];
  else if (isTokenList(p)) prompts = [p];
  else if (
    Array.isArray(p) && p.length > 0 &&
    (p.every((x) => typeof x === "string") || p.every(isTokenList))
  ) prompts = p;
  else {
    throw bad(
      "prompt",
      "must be a string, a list of strings, a list of token ids or a list of token-id lists",
    );
  }
  if (b.echo !== undefined && b.echo !== null && typeof b.echo !== "boolean") {
    throw bad("echo", "must be true or false");
  }
  const echo = b.echo === true;
  if (base.maxTokens === 0 && !echo) throw bad("max_tokens", "must be at least 1 without echo");
  return {
    ...base,
    prompts,
    logprobs: optionalInteger(b, "logprobs", 0, MAX_TOP_LOGPROBS),
    echo,
  };
}

function messageText(content: unknown, at: string): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content.map((part, i) => {
      if (part?.type !== "text" || typeof part.text !== "string") {
        throw bad(`${at}.content[${i}]`, 'must be {"type": "text", "text": "..."}');
      }
      return part.text as string;
    }).join("");
  }
  throw bad(`${at}.content`, "must be a string or a list of text parts");
}

/**
 * Checks a chat-completions body.
 * @param body the parsed JSON
 * @returns the request
 * @throws {ApiError} naming the first bad field
 */
export function parseChatRequest(body: unknown): ChatRequest {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new ApiError(400, "The body must be a JSON object");
  }
  const b = body as Body;
  checkKnown(b, [
    ...SAMPLING_FIELDS,
    "messages",
    "max_completion_tokens",
    "logprobs",
    "top_logprobs",
    "response_format",
  ]);
  if (b.max_tokens !== undefined && b.max_completion_tokens !== undefined) {
    throw bad("max_tokens", "and max_completion_tokens are the same setting: send one");
  }
  const base = sampling(
    b,
    b.max_completion_tokens !== undefined ? "max_completion_tokens" : "max_tokens",
  );
  if (base.maxTokens === 0) throw bad("max_tokens", "must be at least 1");
  neutralOnly(
    b,
    "response_format",
    (v) => (v as { type?: unknown })?.type === "text",
    "other than text",
  );
  if (!Array.isArray(b.messages) || b.messages.length === 0) {
    throw bad("messages", "must be a non-empty list of {role, content}");
  }
  const roles = ["system", "developer", "user", "assistant"];
  const messages = b.messages.map((m: Record<string, unknown>, i: number) => {
    const at = `messages[${i}]`;
    if (typeof m !== "object" || m === null || !roles.includes(m.role as string)) {
      throw bad(`${at}.role`, `must be one of ${roles.join(", ")}`);
    }
    return { role: m.role as string, content: messageText(m.content, at) };
  });
  if (b.logprobs !== undefined && b.logprobs !== null && typeof b.logprobs !== "boolean") {
    throw bad("logprobs", "must be true or false");
  }
  const logprobs = b.logprobs === true;
  const topLogprobs = optionalInteger(b, "top_logprobs", 0, MAX_TOP_LOGPROBS) ?? 0;
  if (topLogprobs > 0 && !logprobs) throw bad("top_logprobs", "needs logprobs: true");
  return { ...base, messages, logprobs, topLogprobs };
}

/**
 * The prompt of a conversation for a model whose tokenizer has no chat template: one
 * `Role: content` line per message, then `Assistant:` for the model to continue.
 * @param messages the conversation
 * @returns the prompt text
 */
export function plainChatPrompt(messages: ChatMessage[]): string {
  const name = (role: string) =>
    role === "developer" ? "System" : role[0].toUpperCase() + role.slice(1);
  return messages.map((m) => `${name(m.role)}: ${m.content}\n`).join("") + "Assistant:";
}

/** Stop strings implied by {@linkcode plainChatPrompt}: the model starting the next turn. */
export const PLAIN_CHAT_STOPS: readonly string[] = ["\nUser:", "\nSystem:"];

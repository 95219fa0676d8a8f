/**
 * The completion service behind `serve`: checked OpenAI requests in, OpenAI responses out,
 * generation through a {@linkcode GenerationQueue} so concurrent requests share forward passes.
 * No HTTP here (serve/server.ts adds it), so the same service also answers in-process.
 *
 * Conventions: temperature 0 is greedy; log-probs are the model's own (the softmax of its raw
 * logits, before temperature, top-k or top-p); with a `seed`, choice c of prompt p samples from
 * `seededStream(seed, p, c)` (`Rng(seed)` → `prompt-p` → `choice-c`, the stream a local row given
 * `GenerateOptions.seeds` samples with), so a seeded request gets the same answer
 * whatever it is batched with; a completion stops at EOS (not part of its text or log-probs)
 * or just before the first stop string.
 * @module
 */
import { Rng } from "../core/prng.ts";
import { seededStream } from "../models/sampling.ts";
import type { CausalLM, Seq2SeqLM, TokenGenerator, Tokenizer } from "../models/types.ts";
import { GenerationQueue, type GenerationQueueOptions, QueueFullError } from "./batcher.ts";
import {
  ApiError,
  type ChatRequest,
  parseChatRequest,
  parseCompletionRequest,
  PLAIN_CHAT_STOPS,
  plainChatPrompt,
  type SamplingRequest,
} from "./requests.ts";

/** A model as the service serves it. */
export interface ServedModel {
  /** The name clients ask for in `model`. */
  name: string;
  /**
   * A causal LM or a seq2seq LM; any other token generator (a scripted guide) is served
   * without log-probs.
   */
  model: CausalLM | Seq2SeqLM | TokenGenerator;
  /** Its tokenizer (prompts are encoded and completions decoded with it). */
  tokenizer: Tokenizer;
  /**
   * Tokens at most: a causal LM's prompt + completion (its positions); a seq2seq LM's prompt,
   * and its completion, each.
   */
  contextLength: number;
}

/**
 * The context length to serve a model with: a causal LM's positions; 512 for a seq2seq LM
 * (T5's relative positions have no limit; 512 is the length T5 was trained on).
 * @param model the model
 * @returns tokens at most
 */
export function contextLengthOf(model: CausalLM | Seq2SeqLM | TokenGenerator): number {
  if (model.seq2seq) return 512;
  const config = (model as { config?: { nPositions?: number; maxPositionEmbeddings?: number } })
    .config;
  // a scripted generator reads any length
  return config?.nPositions ?? config?.maxPositionEmbeddings ?? Number.MAX_SAFE_INTEGER;
}

/** Options of {@linkcode CompletionService}. */
export interface CompletionServiceOptions {
  /** Batch size, batching wait and queue limit. */
  queue?: GenerationQueueOptions;
  /** Seed of the streams of requests that bring none. @default 0 */
  seed?: number;
  /** Prompts × n at most per request (more is answered 413). @default 256 */
  maxRowsPerRequest?: number;
}

/** Counts since the service started. */
export interface ServiceStats {
  /** Completion and chat requests answered. */
  requests: number;
  /** Prompt tokens read. */
  promptTokens: number;
  /** Tokens generated (EOS included). */
  completionTokens: number;
  /** Batches decoded. */
  batches: number;
  /** Rows decoded. */
  rows: number;
  /** Rows per batch on average (0 before the first). */
  meanBatchRows: number;
  /** Requests refused because the queue was full. */
  refused: number;
}

/** Log-probs in the completions format. */
interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: (number | null)[];
  top_logprobs: (Record<string, number> | null)[];
  text_offset: number[];
}

/** One finished choice. */
interface Generated {
  /** Tokens of the returned text (EOS and a stop string's tokens left out). */
  tokens: number[];
  text: string;
  finishReason: "stop" | "length";
  /** Tokens the model generated. */
  generated: number;
}

interface ScoredToken {
  id: number;
  logprob: number | null;
  top: { id: number; logprob: number }[] | null;
}

/** log-softmax of one row of logits: the value at `id` and the `k` best. */
function logSoftmax(row: ArrayLike<number>, id: number, k: number) {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i] > max) max = row[i];
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i] - max);
  const norm = max + Math.log(sum);
  const top: { id: number; logprob: number }[] = [];
  if (k > 0) {
    for (let i = 0; i < row.length; i++) {
      if (top.length === k && row[i] <= row[top[k - 1].id]) continue;
      let at = top.findIndex((t) => row[i] > row[t.id]);
      if (at < 0) at = top.length;
      top.splice(at, 0, { id: i, logprob: 0 });
      if (top.length > k) top.pop();
    }
    for (const t of top) t.logprob = row[t.id] - norm;
  }
  return { logprob: row[id] - norm, top };
}

/** Serves one model over OpenAI's completions and chat-completions schemas. */
export class CompletionService {
  readonly #served: ServedModel;
  readonly #queue: GenerationQueue;
  readonly #rng: Rng;
  readonly #maxRows: number;
  #requests = 0;
  #promptTokens = 0;
  #completionTokens = 0;

  /**
   * Starts the service (its queue) for a model.
   * @param served the model, its tokenizer, name and context length
   * @param options batching, seed and request limits
   */
  constructor(served: ServedModel, options: CompletionServiceOptions = {}) {
    this.#served = served;
    this.#queue = new GenerationQueue(served.model, options.queue);
    this.#rng = new Rng(options.seed ?? 0).child("serve");
    this.#maxRows = options.maxRowsPerRequest ?? 256;
  }

  /** The served model's name. */
  get modelName(): string {
    return this.#served.name;
  }

  /** The body of `GET /v1/models`. */
  listModels(): unknown {
    return {
      object: "list",
      data: [{
        id: this.#served.name,
        object: "model",
        created: 0,
        owned_by: "rlgf",
        max_model_len: this.#served.contextLength,
      }],
    };
  }

  /** Counts so far. */
  stats(): ServiceStats {
    const queue = this.#queue.stats();
    return {
      requests: this.#requests,
      promptTokens: this.#promptTokens,
      completionTokens: this.#completionTokens,
      batches: queue.batches,
      rows: queue.rows,
      meanBatchRows: queue.batches > 0 ? queue.rows / queue.batches : 0,
      refused: queue.refused,
    };
  }

  /** Finishes the queued work and refuses more. */
  async close(): Promise<void> {
    await this.#queue.close();
  }

  /**
   * Answers a `POST /v1/completions` body.
   * @param body the parsed JSON
   * @returns OpenAI's `text_completion` object
   * @throws {ApiError} for a bad request (status and field in it)
   */
  async completions(body: unknown): Promise<unknown> {
    const request = parseCompletionRequest(body);
    this.#checkModel(request);
    const prompts = request.prompts.map((p, i) => this.#promptIds(p, request, `prompt[${i}]`));
    const maxTokens = request.maxTokens ?? 16;
    this.#checkLengths(prompts, maxTokens);
    this.#checkScoring(request.logprobs !== undefined);
    if (request.echo && request.logprobs !== undefined && this.#served.model.seq2seq) {
      throw new ApiError(
        400,
        '"echo" with "logprobs" needs a decoder-only model: a seq2seq model does not score its prompt',
        "echo",
      );
    }
    const choices = await this.#generate(prompts, request, maxTokens, request.stop);
    const { tokenizer } = this.#served;
    const out = await Promise.all(choices.map(async (choice, index) => {
      const prompt = prompts[Math.floor(index / request.n)];
      const promptText = request.echo ? tokenizer.decode(prompt) : "";
      let logprobs: CompletionLogprobs | null = null;
      if (request.logprobs !== undefined) {
        const scored = await this.#score(prompt, choice.tokens, request.logprobs, request.echo);
        logprobs = this.#completionLogprobs(scored, request.tokensAsIds);
      }
      return {
        index,
        text: promptText + choice.text,
        logprobs,
        finish_reason: choice.finishReason,
      };
    }));
    return {
      id: `cmpl-${this.#requests}`,
      object: "text_completion",
      created: Math.floor(Date.now() / 1000),
      model: this.#served.name,
      choices: out,
      usage: this.#usage(prompts, choices),
    };
  }

  /**
   * Answers a `POST /v1/chat/completions` body (the conversation through
   * {@linkcode plainChatPrompt}: our tokenizers carry no chat template).
   * @param body the parsed JSON
   * @returns OpenAI's `chat.completion` object
   * @throws {ApiError} for a bad request
   */
  async chatCompletions(body: unknown): Promise<unknown> {
    const request: ChatRequest = parseChatRequest(body);
    this.#checkModel(request);
    this.#checkScoring(request.logprobs);
    const prompt = this.#promptIds(plainChatPrompt(request.messages), request, "messages");
    const { contextLength, model } = this.#served;
    const room = model.seq2seq ? contextLength : contextLength - prompt.length;
    const maxTokens = request.maxTokens ?? Math.max(1, room);
    this.#checkLengths([prompt], maxTokens);
    const choices = await this.#generate(
      [prompt],
      request,
      maxTokens,
      [...request.stop, ...PLAIN_CHAT_STOPS],
    );
    const { tokenizer } = this.#served;
    const out = await Promise.all(choices.map(async (choice, index) => {
      let logprobs: unknown = null;
      if (request.logprobs) {
        const scored = await this.#score(prompt, choice.tokens, request.topLogprobs, false);
        const entry = (id: number, logprob: number) => {
          const token = tokenizer.decode([id]);
          return { token, logprob, bytes: [...new TextEncoder().encode(token)] };
        };
        logprobs = {
          content: scored.map((s) => ({
            ...entry(s.id, s.logprob!),
            top_logprobs: (s.top ?? []).map((t) => entry(t.id, t.logprob)),
          })),
        };
      }
      return {
        index,
        message: { role: "assistant", content: choice.text },
        logprobs,
        finish_reason: choice.finishReason,
      };
    }));
    return {
      id: `chatcmpl-${this.#requests}`,
      object: "chat.completion",
      created: Math.floor(Date.now() / 1000),
      model: this.#served.name,
      choices: out,
      usage: this.#usage([prompt], choices),
    };
  }

  #checkScoring(wanted: boolean) {
    if (wanted && !("logits" in this.#served.model)) {
      throw new ApiError(400, "This model does not return log-probs", "logprobs", "unsupported");
    }
  }

  #checkModel(request: SamplingRequest) {
    if (request.model !== this.#served.name) {
      throw new ApiError(
        404,
        `The model \`${request.model}\` does not exist; this server serves \`${this.#served.name}\``,
        "model",
        "model_not_found",
      );
    }
  }

  #promptIds(prompt: string | number[], request: SamplingRequest, param: string): number[] {
    const { tokenizer } = this.#served;
    let ids: number[];
    if (typeof prompt === "string") ids = tokenizer.encode(prompt);
    else {
      const bad = prompt.find((id) => id < 0 || id >= tokenizer.vocabSize);
      if (bad !== undefined) {
        throw new ApiError(
          400,
          `"${param}" holds token id ${bad}; the vocabulary has ids 0 to ${
            tokenizer.vocabSize - 1
          }`,
          "prompt",
          "invalid_value",
        );
      }
      ids = prompt;
    }
    if (ids.length === 0) {
      throw new ApiError(400, `"${param}" is empty: a prompt needs at least one token`, "prompt");
    }
    const keep = request.truncatePromptTokens;
    return keep !== undefined && ids.length > keep ? ids.slice(ids.length - keep) : ids;
  }

  #checkLengths(prompts: number[][], maxTokens: number) {
    const { contextLength, model } = this.#served;
    prompts.forEach((prompt, i) => {
      const total = model.seq2seq ? Math.max(prompt.length, maxTokens) : prompt.length + maxTokens;
      if (total > contextLength) {
        throw new ApiError(
          400,
          `This model's maximum context length is ${contextLength} tokens; prompt ${i} has ${prompt.length} tokens and ${maxTokens} more were asked for (lower max_tokens or shorten the prompt)`,
          "max_tokens",
          "context_length_exceeded",
        );
      }
    });
  }

  async #generate(
    prompts: number[][],
    request: SamplingRequest,
    maxTokens: number,
    stops: readonly string[],
  ): Promise<Generated[]> {
    const rows = prompts.length * request.n;
    if (rows > this.#maxRows) {
      throw new ApiError(
        413,
        `The request asks for ${rows} completions (prompts × n); this server takes at most ${this.#maxRows}`,
        "n",
      );
    }
    const requestIndex = this.#requests++;
    const doSample = request.temperature > 0;
    // a request without a seed gets one from the server's stream
    const seed = request.seed ?? this.#rng.child(`request-${requestIndex}`).int(2 ** 31);
    const rowPrompts: number[][] = [];
    const rngs: Rng[] = [];
    prompts.forEach((prompt, p) => {
      for (let c = 0; c < request.n; c++) {
        rowPrompts.push(prompt);
        rngs.push(seededStream(seed, p, c));
      }
    });
    const { tokenizer } = this.#served;
    const eos = tokenizer.eosTokenId;
    const stopAt = (text: string) => {
      let at = -1;
      for (const s of stops) {
        const i = text.indexOf(s);
        if (i >= 0 && (at < 0 || i < at)) at = i;
      }
      return at;
    };
    let tokens: number[][];
    try {
      tokens = maxTokens === 0 ? rowPrompts.map(() => []) : await this.#queue.submit({
        prompts: rowPrompts,
        maxNewTokens: rowPrompts.map(() => maxTokens),
        minNewTokens: rowPrompts.map(() => Math.min(request.minTokens, maxTokens)),
        settings: {
          doSample,
          temperature: request.temperature,
          topP: request.topP,
          topK: request.topK,
          eosTokenId: request.ignoreEos ? null : eos,
        },
        ...(doSample ? { rngs } : {}),
        ...(stops.length > 0
          ? { stop: (_: number, t: readonly number[]) => stopAt(tokenizer.decode([...t])) >= 0 }
          : {}),
      });
    } catch (error) {
      if (error instanceof QueueFullError) {
        throw new ApiError(
          429,
          `The server is busy: ${error.message}; retry shortly`,
          null,
          "busy",
        );
      }
      throw error;
    }
    return tokens.map((ids) => {
      const ended = !request.ignoreEos && ids.at(-1) === eos;
      let kept = ended ? ids.slice(0, -1) : ids;
      let text = tokenizer.decode(kept);
      let finishReason: Generated["finishReason"] = ended ? "stop" : "length";
      const at = stopAt(text);
      if (at >= 0) {
        text = text.slice(0, at);
        finishReason = "stop";
        let k = 0;
        while (k < kept.length && tokenizer.decode(kept.slice(0, k + 1)).length <= at) k++;
        kept = kept.slice(0, k);
      }
      return { tokens: kept, text, finishReason, generated: ids.length };
    });
  }

  /** The model's log-probs of a choice's tokens (and of the prompt's, with `echo`). */
  async #score(prompt: number[], tokens: number[], top: number, echo: boolean) {
    const { model } = this.#served;
    const scored: ScoredToken[] = echo ? [{ id: prompt[0], logprob: null, top: null }] : [];
    const wanted = (echo ? prompt.length - 1 : 0) + tokens.length;
    if (wanted === 0) return scored;
    if (model.seq2seq) {
      const s2s = model as Seq2SeqLM;
      const decoderInputs = [s2s.config.decoderStartTokenId, ...tokens.slice(0, -1)];
      const [rows] = await s2s.logits([prompt], [decoderInputs]);
      tokens.forEach((id, t) => scored.push({ id, ...logSoftmax(rows[t], id, top) }));
      return scored;
    }
    const sequence = prompt.concat(tokens);
    const [rows] = await (model as CausalLM).logits([sequence]);
    const from = echo ? 1 : prompt.length;
    for (let t = from; t < sequence.length; t++) {
      scored.push({ id: sequence[t], ...logSoftmax(rows[t - 1], sequence[t], top) });
    }
    return scored;
  }

  #completionLogprobs(scored: ScoredToken[], asIds: boolean): CompletionLogprobs {
    const { tokenizer } = this.#served;
    const name = (id: number) => asIds ? `token_id:${id}` : tokenizer.decode([id]);
    const out: CompletionLogprobs = {
      tokens: [],
      token_logprobs: [],
      top_logprobs: [],
      text_offset: [],
    };
    let offset = 0;
    for (const s of scored) {
      const token = name(s.id);
      out.tokens.push(token);
      out.token_logprobs.push(s.logprob);
      out.top_logprobs.push(
        s.top === null ? null : Object.fromEntries(
          s.top.map((t) => [name(t.id), t.logprob]),
        ),
      );
      out.text_offset.push(offset);
      offset += token.length;
    }
    return out;
  }

  #usage(prompts: number[][], choices: Generated[]) {
    const prompt = prompts.reduce((n, p) => n + p.length, 0);
    const completion = choices.reduce((n, c) => n + c.generated, 0);
    this.#promptTokens += prompt;
    this.#completionTokens += completion;
    return {
      prompt_tokens: prompt,
      completion_tokens: completion,
      total_tokens: prompt + completion,
    };
  }
}

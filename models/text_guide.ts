/**
 * Guides that speak text, not tokens: a black-box completion API (the paper's
 * GPT-3 guide was one). The guide sees the decoded prompt, returns text, and
 * its text is re-tokenised with the learner's tokenizer, so switch points and
 * masks are drawn over the learner's tokens (design.md "Guides").
 * @module
 */
import { InputError } from "../core/errors.ts";
import type { GenerateOptions, TokenGenerator, Tokenizer } from "./types.ts";

/** Completes each prompt text; `maxNewTokens` is a hint in the learner's tokens. */
export type CompleteText = (
  prompts: string[],
  options: { maxNewTokens: number; temperature?: number; topP?: number },
) => Promise<string[]>;

/**
 * Wraps a text-completion function as a token-level guide.
 *
 * @example A guide that always says " great"
 * ```ts
 * import { textGuide } from "./text_guide.ts";
 * const words = ["<eos>", "it", "is", " great"];
 * const tokenizer = {
 *   vocabSize: 4, eosTokenId: 0, padTokenId: 0,
 *   encode: (text: string) => text.split(/(?= )/).map((w) => words.indexOf(w)),
 *   decode: (ids: number[]) => ids.map((i) => words[i]).join(""),
 * };
 * const guide = textGuide(async (prompts) => prompts.map(() => " great"), tokenizer);
 * const [tokens] = await guide.generate([[1, 2]], { maxNewTokens: 4 });
 * if (tokens[0] !== 3) throw new Error("expected the token of ' great'");
 * ```
 */
export function textGuide(complete: CompleteText, tokenizer: Tokenizer): TokenGenerator {
  return {
    async generate(inputIds: number[][], options: GenerateOptions): Promise<number[][]> {
      if (inputIds.length === 0) return [];
      const limits = Array.isArray(options.maxNewTokens)
        ? options.maxNewTokens
        : inputIds.map(() => options.maxNewTokens as number);
      const prompts = inputIds.map((ids) => tokenizer.decode(ids));
      const texts = await complete(prompts, {
        maxNewTokens: Math.max(...limits),
        temperature: options.doSample ? options.temperature : 0,
        topP: options.topP,
      });
      if (!Array.isArray(texts) || texts.length !== prompts.length) {
        throw new InputError(
          `the text guide returned ${
            Array.isArray(texts) ? texts.length : typeof texts
          } completions for ${prompts.length} prompts`,
          "textGuide",
        );
      }
      const eos = options.eosTokenId === undefined ? tokenizer.eosTokenId : options.eosTokenId;
      return texts.map((text, b) => {
        if (typeof text !== "string") {
          throw new InputError(`completion ${b} is ${typeof text}, expected a string`, "textGuide");
        }
        const tokens = tokenizer.encode(text).slice(0, limits[b]);
        const stop = eos === null ? -1 : tokens.indexOf(eos);
        return stop >= 0 ? tokens.slice(0, stop + 1) : tokens;
      });
    },
  };
}

/** Where an OpenAI-compatible `/v1/completions` endpoint lives. */
export interface CompletionsApiOptions {
  /** The endpoint, e.g. `http://127.0.0.1:8000/v1/completions`. */
  url: string;
  /** The model name the API expects. */
  model: string;
  /** Sent as a Bearer token when given. */
  apiKey?: string;
  /** Requests that fail are retried this many times. @default 2 */
  retries?: number;
}

/** A {@linkcode CompleteText} over an OpenAI-compatible completions API (one request per batch). */
export function completionsApi(options: CompletionsApiOptions): CompleteText {
  return async (prompts, request) => {
    const body = JSON.stringify({
      model: options.model,
      prompt: prompts,
      max_tokens: request.maxNewTokens,
      temperature: request.temperature ?? 0,
      top_p: request.topP ?? 1,
    });
    let lastError: unknown;
    for (let attempt = 0; attempt <= (options.retries ?? 2); attempt++) {
      try {
        const response = await fetch(options.url, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}),
          },
          body,
        });
        if (!response.ok) {
          const text = (await response.text()).split("\n")[0].slice(0, 200);
          throw new InputError(`HTTP ${response.status}: ${text}`, options.url);
        }
        let json: { choices?: { index?: number; text?: string }[] };
        try {
          json = await response.json();
        } catch (error) {
          throw new InputError(`response is not JSON (${(error as Error).message})`, options.url);
        }
        if (!Array.isArray(json.choices)) {
          throw new InputError(`response has no "choices" array`, options.url);
        }
        const texts = new Array<string>(prompts.length).fill("");
        json.choices.forEach((choice, i) => (texts[choice.index ?? i] = choice.text ?? ""));
        return texts;
      } catch (error) {
        lastError = error;
      }
    }
    // One line for the user (a refused connection is a TypeError from fetch): the guide's API
    // is input like a model folder, and the CLI prints such errors without a stack trace.
    const attempts = (options.retries ?? 2) + 1;
    const message = String((lastError as Error)?.message ?? lastError).split("\n")[0];
    throw new InputError(
      `the text API guide failed (${attempts} attempt${attempts === 1 ? "" : "s"}): ${
        message.replace(`${options.url}: `, "")
      }`,
      options.url,
    );
  };
}

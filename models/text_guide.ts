/**
 * Guides that speak text, not tokens: a black-box completion API (the paper's
 * GPT-3 guide was one). The guide sees the decoded prompt, returns text, and
 * its text is re-tokenised with the learner's tokenizer, so switch points and
 * masks are drawn over the learner's tokens (design.md "Guides").
 * @module
 */
import { InputError } from "../core/errors.ts";
import type { GenerateOptions, TokenGenerator, Tokenizer } from "./types.ts";

/**
 * Completes each prompt text; `maxNewTokens` is a hint in the learner's tokens. `promptIds` are
 * the learner's tokens of each prompt (for servers that take token-id prompts) and `seeds` one
 * sampling seed per prompt, drawn from the caller's stream (for seeded, cacheable sampling).
 */
export type CompleteText = (
  prompts: string[],
  options: {
    maxNewTokens: number;
    /** New tokens before EOS may end each prompt's completion (sent as vLLM's `min_tokens`). */
    minNewTokens?: number[];
    temperature?: number;
    topP?: number;
    promptIds?: number[][];
    seeds?: number[];
  },
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
      // a restart state given apart from the input (a seq2seq learner's decoder prefix) is
      // text the API continues: it follows the prompt
      const promptIds = options.prefixes
        ? inputIds.map((ids, i) => ids.concat(options.prefixes![i] ?? []))
        : inputIds;
      const prompts = promptIds.map((ids) => tokenizer.decode(ids));
      // one seed per row from the caller's stream: a resumed run asks for the same samples
      const seeds = !options.doSample ? undefined : options.seeds ??
        (options.rng
          ? inputIds.map((_, i) => options.rng!.child(`api-row-${i}`).int(2 ** 31))
          : undefined);
      const texts = await complete(prompts, {
        maxNewTokens: Math.max(...limits),
        ...(options.minNewTokens !== undefined
          ? {
            minNewTokens: Array.isArray(options.minNewTokens)
              ? options.minNewTokens
              : inputIds.map(() => options.minNewTokens as number),
          }
          : {}),
        temperature: options.doSample ? (options.temperature ?? 1) : 0, // HF: sampling defaults to 1
        topP: options.topP,
        promptIds,
        ...(seeds ? { seeds } : {}),
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

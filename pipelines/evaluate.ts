/**
 * Scores a policy alone: it writes every token from the prompt (no guide), and the
 * task reward scores the result. This is how algorithms are compared.
 * @module
 */
import type { Rng } from "../core/prng.ts";
import { promptIds, type TokenGenerator, type Tokenizer } from "../models/types.ts";
import type { RewardFunction } from "../rewards/types.ts";
import type { GenerationConfig } from "../stages/types.ts";
import type { PromptRecord } from "../tasks/types.ts";

/** Options of {@linkcode evaluatePolicy}. */
export interface EvaluateOptions {
  /** Encodes the prompts and decodes the generations the reward scores. */
  tokenizer: Tokenizer;
  /** The task reward, called once per batch of rows. */
  reward: RewardFunction;
  /** Decoding lengths and sampling settings (sampling itself is `doSample`). */
  generation: GenerationConfig;
  /** Prompts are left-truncated to this many tokens. @default 64 */
  maxPromptTokens?: number;
  /** Rows per generation call. @default 64 */
  batchSize?: number;
  /** Sample (with `rng`) or decode deterministically (greedy, or beam search). @default true */
  doSample?: boolean;
  /** Beam width when not sampling (1 = greedy). @default 1 */
  numBeams?: number;
  /** Needed when sampling. */
  rng?: Rng;
}

/**
 * Generates one continuation per record with `policy` and scores it.
 *
 * @param policy the policy to evaluate
 * @param records the prompts
 * @param options tokenizer, reward and decoding
 * @returns the mean reward, and each row's reward and generation
 */
export async function evaluatePolicy(
  policy: TokenGenerator,
  records: readonly PromptRecord[],
  options: EvaluateOptions,
): Promise<{ rewardMean: number; rewards: number[]; generations: string[] }> {
  const batchSize = options.batchSize ?? 64;
  const maxPrompt = options.maxPromptTokens ?? 64;
  const doSample = options.doSample ?? true;
  if (doSample && !options.rng) throw new TypeError("evaluatePolicy() needs an rng to sample");
  const rewards: number[] = [];
  const generations: string[] = [];
  for (let start = 0; start < records.length; start += batchSize) {
    const rows = records.slice(start, start + batchSize);
    const inputs = rows.map((r) => {
      return promptIds(options.tokenizer, r.prompt, maxPrompt);
    });
    const g = options.generation;
    const out = await policy.generate(inputs, {
      maxNewTokens: g.maxNewTokens,
      minNewTokens: g.minNewTokens,
      doSample,
      ...(doSample ? {} : { numBeams: options.numBeams ?? 1 }),
      temperature: g.temperature,
      topK: g.topK,
      topP: g.topP,
      ...(g.eosTokenId !== undefined ? { eosTokenId: g.eosTokenId } : {}),
      rng: options.rng?.child(`batch-${start / batchSize}`),
    });
    const texts = out.map((ids) => options.tokenizer.decode(ids));
    const scores = await options.reward({
      prompts: rows.map((r) => r.prompt),
      generations: texts,
      references: rows.map((r) => r.references),
    });
    rewards.push(...scores);
    generations.push(...texts);
  }
  const rewardMean = rewards.reduce((a, b) => a + b, 0) / Math.max(1, rewards.length);
  return { rewardMean, rewards, generations };
}

/**
 * Roll-out: complete each trajectory from its restart state with the roll-out policy.
 * @module
 */
/** @ignore rxjs documents its own types; we reference them, not re-export them. */
import { concatMap, type OperatorFunction } from "rxjs";
import type { Rng } from "../core/prng.ts";
import type { TokenGenerator, Tokenizer } from "../models/types.ts";
import { sampleRows } from "./_generate.ts";
import { batchRng } from "./_rng.ts";
import type {
  GenerationConfig,
  PolicyName,
  PromptBatch,
  RollInFields,
  RollOutFields,
  SwitchFields,
} from "./types.ts";

/** Options of {@linkcode rollOut}. */
export interface RollOutOptions {
  /** The roll-out policy. */
  policy: TokenGenerator;
  /** Its name, recorded in the batch. */
  name: PolicyName;
  /** Decodes the generations for the reward. */
  tokenizer: Tokenizer;
  /** Decoding settings; H = `maxNewTokens`. */
  generation: GenerationConfig;
  /** Sampling stream; each batch uses its child `iteration-i/batch-j`. */
  rng: Rng;
}

/**
 * Re-enters the state prompt + first k roll-in tokens of each row and lets the
 * roll-out policy complete it to H tokens (H - k new tokens; the minimum length
 * shrinks by k too; a seq2seq policy gets the k tokens as its decoder prefix).
 * Tokens t < k are the roll-in's, t >= k the roll-out's.
 * Informally: batch with switch points → the same batch with `tokens` and `generations`.
 *
 * @param options the policy, tokenizer, decoding settings and random stream
 * @returns the operator
 */
export function rollOut<T extends PromptBatch & RollInFields & SwitchFields>(
  options: RollOutOptions,
): OperatorFunction<T, T & RollOutFields> {
  const { generation } = options;
  return concatMap(async (batch) => {
    const prefixes = batch.switchPoints.map((k, i) => batch.rollInTokens[i].slice(0, k));
    const suffixes = await sampleRows(
      options.policy,
      batch.promptIds,
      {
        max: batch.switchPoints.map((k) => generation.maxNewTokens - k),
        min: batch.switchPoints.map((k) => Math.max(0, generation.minNewTokens - k)),
      },
      { ...generation, rng: batchRng(options.rng, batch) },
      prefixes,
    );
    const tokens = prefixes.map((prefix, i) => prefix.concat(suffixes[i]));
    return {
      ...batch,
      rollOutPolicy: options.name,
      tokens,
      generations: tokens.map((row) => options.tokenizer.decode(row)),
    };
  });
}

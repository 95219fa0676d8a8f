/**
 * Stages over plain text rows, for use outside the training loop: generation,
 * reward scoring and metric scoring, as RxJS operators and as Web Streams
 * `TransformStream`s (so a Deno stream pipeline can read prompts from a JSONL
 * file, generate, score and write JSONL).
 *
 * ```ts ignore
 * await (await Deno.open("prompts.jsonl")).readable
 *   .pipeThrough(new TextDecoderStream()).pipeThrough(lineStream()).pipeThrough(jsonlParseStream())
 *   .pipeThrough(generationStream(policy, { tokenizer, generation, rng }))
 *   .pipeThrough(rewardStream(reward))
 *   .pipeThrough(jsonlStringifyStream()).pipeThrough(new TextEncoderStream())
 *   .pipeTo((await Deno.create("scored.jsonl")).writable);
 * ```
 * @module
 */
/** @ignore rxjs documents its own types; we reference them, not re-export them. */
import {
  bufferCount,
  concatMap,
  from,
  map,
  mergeMap,
  type OperatorFunction,
  pipe,
  reduce,
} from "rxjs";
import type { Rng } from "../core/prng.ts";
import { operatorStream } from "../core/streams.ts";
import { promptIds, type TokenGenerator, type Tokenizer } from "../models/types.ts";
import type { MetricFunction, RewardFunction } from "../rewards/types.ts";
import type { GenerationConfig } from "./types.ts";

/** A row of text: a prompt, optional references, anything else passed through. */
export interface TextRow {
  /** The prompt text the policy continues. */
  prompt: string;
  /** Reference continuations, for rewards and metrics that compare against them. */
  references?: string[];
  /** Other fields (ids, labels) travel through the stages untouched. */
  [field: string]: unknown;
}

/** Options of {@linkcode generateRows}. */
export interface GenerateRowsOptions {
  /** Encodes the prompts and decodes the continuations. */
  tokenizer: Tokenizer;
  /** Decoding lengths and sampling settings (rows are always sampled). */
  generation: GenerationConfig;
  /** Prompts are left-truncated to this many tokens. @default 64 */
  maxPromptTokens?: number;
  /** Rows per generation call. @default 16 */
  batchSize?: number;
  /** Sampling stream; batch j uses its child `batch-j`. */
  rng: Rng;
}

function checkRow(row: unknown, index: number): TextRow {
  if (typeof row !== "object" || row === null || typeof (row as TextRow).prompt !== "string") {
    throw new TypeError(
      `Row ${index}: field "prompt" must be a string, got ${JSON.stringify(row)}`,
    );
  }
  return row as TextRow;
}

/**
 * Adds `generation` (the policy's continuation text) to each row, in batches.
 * Informally: row → the same row with `generation`.
 * @param policy the generating policy
 * @param options tokenizer, decoding settings, batch size and random stream
 * @returns the operator
 */
export function generateRows<T extends TextRow>(
  policy: TokenGenerator,
  options: GenerateRowsOptions,
): OperatorFunction<T, T & { generation: string }> {
  const maxPrompt = options.maxPromptTokens ?? 64;
  const g = options.generation;
  let index = 0;
  return pipe(
    map((row: T) => checkRow(row, index++) as T),
    bufferCount(options.batchSize ?? 16),
    concatMap(async (rows, batch) => {
      const inputs = rows.map((r) => {
        return promptIds(options.tokenizer, r.prompt, maxPrompt);
      });
      const out = await policy.generate(inputs, {
        maxNewTokens: g.maxNewTokens,
        minNewTokens: g.minNewTokens,
        doSample: true,
        temperature: g.temperature,
        topK: g.topK,
        topP: g.topP,
        ...(g.eosTokenId !== undefined ? { eosTokenId: g.eosTokenId } : {}),
        rng: options.rng.child(`batch-${batch}`),
      });
      return rows.map((r, i) => ({ ...r, generation: options.tokenizer.decode(out[i]) }));
    }),
    mergeMap((rows) => from(rows)),
  );
}

/**
 * Adds `reward` to each row that has a `generation`, in batches.
 * @param reward the reward function
 * @param options rows per reward call (default 64)
 * @returns the operator
 */
export function scoreRows<T extends TextRow & { generation: string }>(
  reward: RewardFunction,
  options: { batchSize?: number } = {},
): OperatorFunction<T, T & { reward: number }> {
  return pipe(
    bufferCount(options.batchSize ?? 64),
    concatMap(async (rows) => {
      const scores = await reward({
        prompts: rows.map((r) => r.prompt),
        generations: rows.map((r) => r.generation),
        references: rows.map((r) => r.references ?? []),
      });
      return rows.map((r, i) => ({ ...r, reward: scores[i] }));
    }),
    mergeMap((rows) => from(rows)),
  );
}

/**
 * Scores all rows together with a corpus metric and emits one result at the end.
 * @param metric the metric function
 * @returns the operator
 */
export function metricRows<T extends TextRow & { generation: string }>(
  metric: MetricFunction,
): OperatorFunction<T, Record<string, number>> {
  return pipe(
    reduce((all: T[], row: T) => (all.push(row), all), []),
    concatMap((rows) =>
      metric({
        prompts: rows.map((r) => r.prompt),
        generations: rows.map((r) => r.generation),
        references: rows.map((r) => r.references ?? []),
      })
    ),
  );
}

/** {@linkcode generateRows} as a `TransformStream`. */
export function generationStream<T extends TextRow>(
  policy: TokenGenerator,
  options: GenerateRowsOptions,
): TransformStream<T, T & { generation: string }> {
  return operatorStream(generateRows<T>(policy, options));
}

/** {@linkcode scoreRows} as a `TransformStream`. */
export function rewardStream<T extends TextRow & { generation: string }>(
  reward: RewardFunction,
  options: { batchSize?: number } = {},
): TransformStream<T, T & { reward: number }> {
  return operatorStream(scoreRows<T>(reward, options));
}

/** {@linkcode metricRows} as a `TransformStream`. */
export function metricStream<T extends TextRow & { generation: string }>(
  metric: MetricFunction,
): TransformStream<T, Record<string, number>> {
  return operatorStream(metricRows<T>(metric));
}

/**
 * Prompt batches from a task's records, in a seeded shuffled order.
 * @module
 */
/** @ignore rxjs documents its own types; we reference them, not re-export them. */
import { concatMap, defer, from, type Observable, type OperatorFunction, range } from "rxjs";
import { InputError } from "../core/errors.ts";
import type { Rng } from "../core/prng.ts";
import { promptIds, type Tokenizer } from "../models/types.ts";
import type { PromptRecord } from "../tasks/types.ts";
import type { PromptBatch } from "./types.ts";

/** Options of {@linkcode promptSource}. */
export interface PromptSourceOptions {
  /** The tokenizer of the learner. */
  tokenizer: Tokenizer;
  /** Rows per batch. */
  batchSize: number;
  /** Batches per iteration. @default 1 */
  batchesPerIteration?: number;
  /** Prompts are left-truncated to this many tokens. */
  maxPromptTokens: number;
  /** Reference token ids are cut to this many tokens (the horizon H). */
  maxNewTokens: number;
  /** Shuffles each pass over the records (pass e uses the child `epoch-e`). */
  rng: Rng;
}

/**
 * Emits the prompt batches of each iteration number it receives. The records are
 * visited in passes, each pass in its own seeded order, so iteration i's batches are
 * a pure function of (records, seed, i): a resumed run sees the same prompts.
 * Informally: iteration index → `batchesPerIteration` prompt batches.
 *
 * @param records the task's prompt records (at least one)
 * @param options batch sizes, lengths, tokenizer and random stream
 * @returns the operator
 */
export function promptSource(
  records: readonly PromptRecord[],
  options: PromptSourceOptions,
): OperatorFunction<number, PromptBatch> {
  if (records.length === 0) throw new InputError("Task has no prompt records", "promptSource");
  const perIteration = options.batchesPerIteration ?? 1;
  for (const [name, value] of [["batchSize", options.batchSize], ["batches", perIteration]]) {
    if (!Number.isInteger(value) || (value as number) <= 0) {
      throw new RangeError(`${name} must be a positive integer, got ${value}`);
    }
  }
  const encoded = new Map<number, { promptIds: number[]; referenceIds: number[] }>();
  const encode = (index: number) => {
    let hit = encoded.get(index);
    if (!hit) {
      const record = records[index];
      const ids = promptIds(options.tokenizer, record.prompt, options.maxPromptTokens);
      if (ids.length === 0) {
        throw new InputError("the prompt has no tokens", `record "${record.id}"`);
      }
      const reference = record.references[0];
      hit = {
        promptIds: ids,
        referenceIds: reference === undefined
          ? []
          : options.tokenizer.encode(reference).slice(0, options.maxNewTokens),
      };
      encoded.set(index, hit);
    }
    return hit;
  };
  return (iterations: Observable<number>) =>
    defer(() => {
      // Each subscription keeps its own cache of pass orders.
      const orders = new Map<number, number[]>();
      const order = (pass: number): number[] => {
        let hit = orders.get(pass);
        if (!hit) {
          hit = options.rng.child(`epoch-${pass}`).shuffle(records.map((_, i) => i));
          orders.set(pass, hit);
        }
        return hit;
      };
      return iterations.pipe(
        concatMap((iteration) =>
          range(0, perIteration).pipe(concatMap((batchIndex) => {
            const start = (iteration * perIteration + batchIndex) * options.batchSize;
            const rows = Array.from({ length: options.batchSize }, (_, r) => {
              const position = start + r;
              return order(Math.floor(position / records.length))[position % records.length];
            });
            const batch: PromptBatch = {
              iteration,
              batchIndex,
              recordIds: rows.map((i) => records[i].id),
              prompts: rows.map((i) => records[i].prompt),
              promptIds: rows.map((i) => encode(i).promptIds),
              references: rows.map((i) => records[i].references.slice()),
              referenceIds: rows.map((i) => encode(i).referenceIds),
            };
            return from([batch]);
          }))
        ),
      );
    });
}

/**
 * BC (behaviour cloning): supervised next-token NLL on (prompt, reference) pairs.
 * The baseline, and the default guide; "BC+X" runs X from the BC weights.
 * @module
 */
/** @ignore rxjs documents its own types; we reference them, not re-export them. */
import { concatMap, defer, type Observable, of, range } from "rxjs";
import { nllStep } from "../stages/nll_update.ts";
import { promptSource } from "../stages/prompt_source.ts";
import { rollIn } from "../stages/roll_in.ts";
import type { RunOptions } from "./iteration.ts";
import type { TrainOptions } from "./options.ts";
import type { AlgorithmState } from "./state.ts";

/** What each BC iteration emits. */
export interface BcMetrics {
  /** 0-based BC step number. */
  iteration: number;
  /** Always "bc", so BC lines in metrics.jsonl can be told from the RL phases'. */
  phase: "bc";
  /** Mean NLL per reference token, before the step. */
  loss_nll: number;
  /** Task reward of the learner's own samples on the batch's prompts (before the step). */
  reward_mean: number;
  /** Population standard deviation of those rewards. */
  reward_std: number;
  /** Global gradient L2 norm before clipping. */
  grad_norm: number;
  /** The learning rate of this step (linear decay from `bc.learningRate`). */
  lr: number;
  /** Reference tokens trained on. */
  tokens: number;
  /** Reference tokens per wall-clock second of the whole iteration (sampling included). */
  tokens_per_s: number;
  /** Wall-clock seconds of the iteration. */
  seconds: number;
}

/**
 * Runs `bc.iterations` gradient steps of NLL on batches of `bc.batchSize` records
 * (the first reference of each, cut to H tokens), with AdamW, linear decay of
 * `bc.learningRate` and gradient-norm clipping.
 *
 * @param state learner, its optimizer, tokenizer, records (with references), reward
 * @param options train options (`bc`, `generation`, `learner.maxGradNorm`)
 * @param run the wall clock and the first iteration (to resume)
 * @returns per-iteration metrics
 */
export function bc(
  state: AlgorithmState,
  options: TrainOptions,
  run: RunOptions = {},
): Observable<BcMetrics> {
  const clock = run.clock ?? (() => performance.now());
  const prompts = promptSource(state.records, {
    tokenizer: state.tokenizer,
    batchSize: options.bc.batchSize,
    maxPromptTokens: options.maxPromptTokens,
    maxNewTokens: options.generation.maxNewTokens,
    rng: state.rng.child("bc-prompts"),
  });
  const sample = rollIn({
    policy: state.learner,
    name: "learner",
    generation: options.generation,
    rng: state.rng.child("bc-samples"),
  });
  const first = Math.min(options.bc.iterations, Math.max(0, run.startIteration ?? 0));
  return range(first, options.bc.iterations - first).pipe(
    concatMap((iteration) =>
      defer(() => {
        const start = clock();
        const lr = options.bc.learningRate * (1 - iteration / options.bc.iterations);
        return of(iteration).pipe(
          prompts,
          sample,
          concatMap(async (batch) => {
            const rewards = await state.reward({
              prompts: batch.prompts,
              generations: batch.rollInTokens.map((ids) => state.tokenizer.decode(ids)),
              references: batch.references,
            });
            const rows = batch.referenceIds.flatMap((ids, i) => ids.length > 0 ? [i] : []);
            if (rows.length === 0) {
              throw new RangeError(`BC needs references; batch of iteration ${iteration} has none`);
            }
            state.optimizers.learner.learningRate = lr;
            const step = nllStep(state.learner, state.optimizers.learner, {
              prompts: rows.map((i) => batch.promptIds[i]),
              targets: rows.map((i) => batch.referenceIds[i]),
            }, options.learner.maxGradNorm);
            const mean = rewards.reduce((a, b) => a + b, 0) / rewards.length;
            const seconds = (clock() - start) / 1000;
            return {
              iteration,
              phase: "bc" as const,
              loss_nll: step.nll,
              reward_mean: mean,
              reward_std: Math.sqrt(
                rewards.reduce((a, r) => a + (r - mean) ** 2, 0) / rewards.length,
              ),
              grad_norm: step.gradNorm,
              lr,
              tokens: step.tokens,
              tokens_per_s: seconds > 0 ? step.tokens / seconds : 0,
              seconds,
            };
          }),
          concatMap(async (metrics: BcMetrics) => {
            await run.afterIteration?.(metrics);
            return metrics;
          }),
        );
      })
    ),
  );
}

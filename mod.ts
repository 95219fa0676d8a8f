/**
 * rlgf: reinforcement learning from guided feedback for language models, in
 * Deno + TypeScript (PPO, PPO++, AggreVaTeD, LOLS, D2LOLS and BC as RxJS
 * pipelines of small stages over a TensorFlow.js GPT-2).
 *
 * @example Seeded random streams
 * ```ts
 * import { Rng } from "./mod.ts";
 * const rng = new Rng(42);
 * const a = rng.child("switch-points").random();
 * const b = new Rng(42).child("switch-points").random();
 * if (a !== b) throw new Error("not reproducible");
 * ```
 * @module
 */
export * from "./core/mod.ts";
export type * from "./models/types.ts";

/**
 * Per-batch random streams shared by the stages.
 * @module
 */
import type { Rng } from "../core/prng.ts";

/**
 * The random stream a stage uses for one batch: a pure function of the stage's
 * stream, the iteration and the batch index, so batches never shift each other's
 * draws and a resumed run re-derives them.
 *
 * @param rng the stage's stream
 * @param batch the batch's position
 * @returns the child stream `iteration-i/batch-j`
 */
export function batchRng(rng: Rng, batch: { iteration: number; batchIndex: number }): Rng {
  return rng.child(`iteration-${batch.iteration}`).child(`batch-${batch.batchIndex}`);
}

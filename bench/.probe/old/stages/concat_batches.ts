/**
 * Merging the batches of one iteration into one.
 * @module
 */

/**
 * Concatenates batches row-wise: array fields are joined, other fields must agree
 * and are kept (iteration, policy names, critic, KL coefficient).
 *
 * @param batches one or more batches of the same shape
 * @returns one batch holding all rows
 */
export function concatBatches<T extends object>(batches: readonly T[]): T {
  if (batches.length === 0) throw new RangeError("Cannot concatenate zero batches");
  if (batches.length === 1) return batches[0];
  const out: Record<string, unknown> = {};
  for (const [key, first] of Object.entries(batches[0])) {
    if (Array.isArray(first)) {
      out[key] = batches.flatMap((b) => (b as Record<string, unknown[]>)[key]);
    } else if (key === "batchIndex") {
      out[key] = first;
    } else {
      for (const b of batches) {
        const value = (b as Record<string, unknown>)[key];
        if (value !== first) {
          throw new RangeError(`Batches disagree on "${key}": ${first} and ${value}`);
        }
      }
      out[key] = first;
    }
  }
  return out as T;
}

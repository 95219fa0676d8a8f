/**
 * Assertions shared by the model tests: logits against a PyTorch fixture's sampled columns, and
 * two sets of gradients against each other.
 * @module
 */
import assert from "node:assert/strict";

/** What a fixture's reference.json holds of its logits. */
export interface LogitReference {
  /** The vocabulary columns recorded. */
  logit_columns: number[];
  /** The logits at those columns, per position. */
  logits_at_columns: number[][];
  /** The argmax per position. */
  argmax_ids: number[];
}

/**
 * Every position's logits at the reference's columns within `tolerance`, and the same argmax.
 * @param rows logits per position (full vocabulary)
 * @param reference the fixture's numbers
 * @param what the model, in messages
 * @param tolerance max |logit − reference| @default 1e-4
 */
export function assertLogitColumns(
  rows: number[][],
  reference: LogitReference,
  what: string,
  tolerance = 1e-4,
): void {
  let worst = 0;
  rows.forEach((row, t) =>
    reference.logit_columns.forEach((col, j) => {
      worst = Math.max(worst, Math.abs(row[col] - reference.logits_at_columns[t][j]));
    })
  );
  assert.ok(worst <= tolerance, `${what}: max |logit - PyTorch| = ${worst}`);
  assert.deepEqual(
    rows.map((row) => row.indexOf(Math.max(...row))),
    reference.argmax_ids,
    `${what}: argmax`,
  );
}

/**
 * Each gradient of `actual` equals `expected`'s within 1e-4 of its largest entry, and none is
 * zero (a zero gradient would pass any comparison).
 * @param expected gradients per variable (the reference route)
 * @param actual the same variables' gradients on the route under test
 */
export function assertGradientsMatch(expected: Float32Array[], actual: Float32Array[]): void {
  assert.equal(actual.length, expected.length);
  expected.forEach((e, i) => {
    let diff = 0, scale = 0;
    e.forEach((x, j) => {
      diff = Math.max(diff, Math.abs(x - actual[i][j]));
      scale = Math.max(scale, Math.abs(x));
    });
    assert.ok(scale > 0, `gradient ${i} is not zero`);
    assert.ok(diff <= 1e-4 * scale + 1e-6, `gradient ${i}: ${diff} of ${scale}`);
  });
}

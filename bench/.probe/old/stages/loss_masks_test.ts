import assert from "node:assert/strict";
import { maskRow } from "./loss_masks.ts";

Deno.test("maskRow() builds all, suffix, prefix, none and custom masks", () => {
  assert.deepEqual(maskRow("all", 4, 2), [1, 1, 1, 1]);
  assert.deepEqual(maskRow("suffix", 4, 2), [0, 0, 1, 1]);
  assert.deepEqual(maskRow("prefix", 4, 2), [1, 1, 0, 0]);
  assert.deepEqual(maskRow("none", 2, 0), [0, 0]);
  assert.deepEqual(maskRow((t) => t % 2 === 0, 4, 0), [1, 0, 1, 0]);
  assert.deepEqual(maskRow("prefix", 3, 0), [0, 0, 0]); // k = 0: no roll-in tokens
});

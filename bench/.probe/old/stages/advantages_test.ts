import assert from "node:assert/strict";
import { firstValueFrom, of } from "rxjs";
import { advantages, gae } from "./advantages.ts";
import type { KlFields, ValueFields } from "./types.ts";

function close(actual: number[], expected: number[], tol = 1e-12) {
  assert.equal(actual.length, expected.length);
  actual.forEach((a, i) =>
    assert.ok(Math.abs(a - expected[i]) < tol, `[${i}] ${a} vs ${expected[i]}`)
  );
}

Deno.test("gae() matches a hand-computed three-token case", () => {
  // δ2 = 1 - 0.4 = 0.6; δ1 = 0.9·0.4 - 0.2 = 0.16; δ0 = 0.9·0.2 - 0.5 = -0.32;
  // A2 = 0.6; A1 = 0.16 + 0.72·0.6 = 0.592; A0 = -0.32 + 0.72·0.592 = 0.10624.
  const { advantages, returns } = gae([0, 0, 1], [0.5, 0.2, 0.4], 0.9, 0.8);
  close(advantages, [0.10624, 0.592, 0.6]);
  close(returns, [0.60624, 0.792, 1.0]);
});

Deno.test("gae() with λ = 1 and γ = 1 gives Monte-Carlo returns", () => {
  const { returns } = gae([0.1, -0.2, 0.3, 1], [5, 6, 7, 8], 1, 1);
  close(returns, [1.2, 1.1, 1.3, 1]);
});

Deno.test("gae() with λ = 0 gives one-step TD errors", () => {
  const { advantages } = gae([1, 2], [0.5, 0.25], 0.5, 0);
  close(advantages, [1 + 0.5 * 0.25 - 0.5, 2 - 0.25]);
});

Deno.test("gae() handles an empty row and rejects mismatched lengths", () => {
  assert.deepEqual(gae([], [], 0.99, 0.95), { advantages: [], returns: [] });
  assert.throws(() => gae([1], [1, 2], 0.99, 0.95), /same length, got 1 and 2/);
});

Deno.test("advantages() adds per-row GAE to a batch", async () => {
  const out = await firstValueFrom(
    of({ rewards: [[0, 1], [2]], values: [[0, 0], [1]] } as unknown as KlFields & ValueFields).pipe(
      advantages({ gamma: 1, lambda: 1 }),
    ),
  );
  assert.deepEqual(out.returns, [[1, 1], [2]]);
  assert.deepEqual(out.advantages, [[1, 1], [1]]);
});

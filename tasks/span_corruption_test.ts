import assert from "node:assert/strict";
import { Rng } from "../core/prng.ts";
import { spanCorruption } from "./span_corruption.ts";

const SENTINELS = [900, 901, 902, 903, 904, 905, 906, 907];
const EOS = 1;

/** Puts a corrupted pair back together: each sentinel in the input replaced by its span. */
function restore(prompt: number[], target: number[]): number[] {
  const spans = new Map<number, number[]>();
  let current: number[] | null = null;
  for (const id of target.slice(0, -1)) {
    if (SENTINELS.includes(id)) spans.set(id, current = []);
    else current!.push(id);
  }
  return prompt.flatMap((id) => spans.get(id) ?? [id]);
}

Deno.test("spanCorruption() hides ~15% of tokens in sentinel spans that the target restores", () => {
  const rng = new Rng(3);
  const ids = Array.from({ length: 40 }, (_, i) => 10 + i);
  let hidden = 0;
  let spans = 0;
  for (let trial = 0; trial < 200; trial++) {
    const { prompt, target } = spanCorruption(ids, rng.child(`t${trial}`), {
      sentinels: SENTINELS,
      eosTokenId: EOS,
    });
    assert.deepEqual(restore(prompt, target), ids);
    assert.equal(target.at(-1), EOS);
    const used = prompt.filter((id) => SENTINELS.includes(id));
    // sentinels in order, each once, and the target opens with the first
    assert.deepEqual(used, SENTINELS.slice(0, used.length));
    assert.equal(target[0], SENTINELS[0]);
    hidden += target.length - 1 - used.length;
    spans += used.length;
  }
  // round(40 * 0.15) = 6 noise tokens in round(6 / 3) = 2 spans, every time
  assert.equal(hidden, 200 * 6);
  // a rotated pattern can split a span across the end, never merge two: 2 or 3 sentinels
  assert.ok(spans >= 200 * 2 && spans <= 200 * 3, `spans ${spans}`);
});

Deno.test("spanCorruption() keeps one token for short texts and is deterministic per stream", () => {
  const a = spanCorruption([5, 6], new Rng(1), { sentinels: SENTINELS, eosTokenId: EOS });
  assert.equal(a.prompt.length, 2); // one kept token and one sentinel
  assert.deepEqual(restore(a.prompt, a.target), [5, 6]);
  const ids = [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
  const options = { sentinels: SENTINELS, eosTokenId: EOS };
  assert.deepEqual(
    spanCorruption(ids, new Rng(9), options),
    spanCorruption(ids, new Rng(9), options),
  );
  assert.throws(() => spanCorruption([5], new Rng(1), options), /at least 2 tokens/);
});

/** LOLS's per-iteration coin and D2LOLS's switch iteration. */
import assert from "node:assert/strict";
import { Rng } from "../core/prng.ts";
import { d2lolsChooser, d2lolsSwitchIteration } from "../pipelines/d2lols.ts";
import { lolsChooser } from "../pipelines/lols.ts";
import { trainOptions } from "../pipelines/options.ts";

const names = (seed: number, n: number, p = 0.8) => {
  const choose = lolsChooser(trainOptions({ iterations: n, lols: { p } }));
  const rng = new Rng(seed).child("phase");
  return Array.from({ length: n }, (_, i) => choose(i, rng).name);
};

Deno.test("lolsChooser() flips the same coins for the same seed, whatever the call order", () => {
  const a = names(7, 200);
  assert.deepEqual(names(7, 200), a);
  assert.notDeepEqual(names(8, 200), a);
  // Iteration i's coin depends only on (seed, i): asking in reverse order changes nothing.
  const choose = lolsChooser(trainOptions({ iterations: 200 }));
  const rng = new Rng(7).child("phase");
  for (let i = 199; i >= 0; i--) assert.equal(choose(i, rng).name, a[i]);
});

Deno.test("lolsChooser() picks PPO++ with probability p", () => {
  const n = 20_000;
  for (const p of [0.8, 0.3]) {
    const share = names(1, n, p).filter((x) => x === "ppo++").length / n;
    assert.ok(Math.abs(share - p) < 5 * Math.sqrt(p * (1 - p) / n), `p = ${p}: share ${share}`);
  }
  assert.ok(names(2, 100, 1).every((x) => x === "ppo++"));
  assert.ok(names(2, 100, 0).every((x) => x === "aggrevated"));
});

Deno.test("d2lolsChooser() runs AggreVaTeD before I and PPO++ from I on", () => {
  const rng = new Rng(3);
  const phases = (overrides: Record<string, unknown>) => {
    const options = trainOptions(overrides);
    const choose = d2lolsChooser(options);
    return Array.from({ length: options.iterations }, (_, i) => choose(i, rng).name);
  };
  // The paper: 20 of 100.
  const paper = phases({ iterations: 100 });
  assert.equal(paper.lastIndexOf("aggrevated"), 19);
  assert.equal(paper.indexOf("ppo++"), 20);
  // tril: 20 of 50, as an absolute switch iteration.
  const tril = phases({ iterations: 50, d2lols: { switchIteration: 20 } });
  assert.equal(tril.indexOf("ppo++"), 20);
  assert.equal(
    d2lolsSwitchIteration(trainOptions({ iterations: 10, d2lols: { switchFraction: 0.5 } })),
    5,
  );
  // The schedule does not depend on the seed.
  const other = d2lolsChooser(trainOptions({ iterations: 100 }));
  assert.deepEqual(paper, paper.map((_, i) => other(i, new Rng(99)).name));
});

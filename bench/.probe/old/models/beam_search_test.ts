import assert from "node:assert/strict";
import { initBackend } from "./backend.ts";
import { createGPT2 } from "./gpt2.ts";
import { Rng } from "../core/prng.ts";

await initBackend();
const V = 5;
const model = createGPT2(
  { vocabSize: V, nPositions: 16, nEmbd: 8, nLayer: 1, nHead: 2, initializerRange: 0.8 },
  new Rng(21),
);
const PROMPTS = [[1, 2], [3], [0, 4, 1]];

/** Every sequence of `length` tokens; with `eos`, also the shorter ones that end at their only EOS. */
function allSequences(length: number, eos: number | null): number[][] {
  let open: number[][] = [[]];
  const out: number[][] = [];
  for (let step = 0; step < length; step++) {
    const next: number[][] = [];
    for (const seq of open) {
      for (let t = 0; t < V; t++) (t === eos ? out : next).push([...seq, t]);
    }
    open = next;
  }
  return [...out, ...open];
}

/** The best sequence by summed log-prob / length, scored by the model. */
async function bruteForce(prompt: number[], length: number, eos: number | null): Promise<number[]> {
  const seqs = allSequences(length, eos);
  const logProbs = await model.continuationLogProbs(seqs.map(() => prompt), seqs);
  let best = 0;
  const score = (i: number) => logProbs[i].reduce((a, b) => a + b, 0) / seqs[i].length;
  for (let i = 1; i < seqs.length; i++) if (score(i) > score(best)) best = i;
  return seqs[best];
}

Deno.test("GPT2LM.generate() beam search with enough beams finds the brute-force best sequence", async () => {
  const got = await model.generate(PROMPTS, { maxNewTokens: 3, numBeams: V * V, eosTokenId: null });
  for (let i = 0; i < PROMPTS.length; i++) {
    assert.deepEqual(got[i], await bruteForce(PROMPTS[i], 3, null));
  }
});

Deno.test("GPT2LM.generate() beam search with EOS matches brute force over length-normalised scores", async () => {
  const eos = 2; // the greedy favourite, so hypotheses end early
  const got = await model.generate(PROMPTS, { maxNewTokens: 3, numBeams: 64, eosTokenId: eos });
  for (let i = 0; i < PROMPTS.length; i++) {
    assert.deepEqual(got[i], await bruteForce(PROMPTS[i], 3, eos));
  }
});

Deno.test("GPT2LM.generate() with one beam is greedy", async () => {
  const beam = await model.generate(PROMPTS, { maxNewTokens: 4, numBeams: 1, eosTokenId: null });
  const greedy = await model.generate(PROMPTS, { maxNewTokens: 4, eosTokenId: null });
  assert.deepEqual(beam, greedy);
});

Deno.test("GPT2LM.generate() beam search bans EOS until minNewTokens", async () => {
  const got = await model.generate(PROMPTS, {
    maxNewTokens: 4,
    minNewTokens: 2,
    numBeams: 3,
    eosTokenId: 4,
  });
  for (const row of got) assert.ok(row.indexOf(4) === -1 || row.indexOf(4) >= 2, `${row}`);
});

import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "./backend.ts";
import { loadCausalLM } from "./checkpoint.ts";
import { createGPT2 } from "./gpt2.ts";
import { Rng } from "../core/prng.ts";
import { OnnxAcceleratedLM, OnnxGpt2Engine } from "./engine/mod.ts";
import type { CausalLM } from "./types.ts";

await initBackend();
const FIXTURE = new URL("../tests/fixtures/tiny-gpt2", import.meta.url).pathname;
const ref = JSON.parse(await Deno.readTextFile(`${FIXTURE}/reference.json`));
const model = await loadCausalLM(FIXTURE);
const TOL = 2e-4; // the bound; an honest float32 forward is off by ~5e-5

interface RefCase {
  name: string;
  input_ids: number[][];
  attention_mask: number[][];
  argmax_ids: number[][];
  next_token_logprobs: (number | null)[][];
  logits_positions: number[];
  logits_at_columns: (number[] | null)[][];
  top_columns: (number[] | null)[][];
  top_logits: (number[] | null)[][];
}
const cases: RefCase[] = ref.cases;

// The reference tests run on both routes: the tfjs model and the ONNX Runtime engine's graphs.
const engine = await OnnxGpt2Engine.create(model.config, { gradients: false });
const ROUTES: [string, CausalLM][] = [["tfjs", model], [
  "engine",
  new OnnxAcceleratedLM(model, engine),
]];

const logitsCache = new Map<string, Promise<number[][][]>>();
function logitsOf(route: string, policy: CausalLM, c: RefCase): Promise<number[][][]> {
  const key = `${route}/${c.name}`;
  if (!logitsCache.has(key)) logitsCache.set(key, policy.logits(c.input_ids, c.attention_mask));
  return logitsCache.get(key)!;
}

function argmax(row: number[]): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

for (const [route, policy] of ROUTES) {
  Deno.test(`${route}: GPT2LM.logits() matches the PyTorch reference within 2e-4 on every case`, async () => {
    for (const c of cases) {
      const logits = await logitsOf(route, policy, c);
      let worst = 0;
      c.logits_positions.forEach((pos, p) => {
        c.input_ids.forEach((_, b) => {
          const stored = c.logits_at_columns[b][p];
          if (stored === null) return; // a pad position
          stored.forEach((v, j) => {
            worst = Math.max(worst, Math.abs(logits[b][pos][ref.logit_columns[j]] - v));
          });
          c.top_columns[b][p]!.forEach((col, j) => {
            worst = Math.max(worst, Math.abs(logits[b][pos][col] - c.top_logits[b][p]![j]));
          });
        });
      });
      assert.ok(worst < TOL, `${c.name}: max |logit - reference| = ${worst}`);
    }
  });

  Deno.test(`${route}: GPT2LM.logits() argmax over the full vocabulary equals the reference at every real position`, async () => {
    for (const c of cases) {
      const logits = await logitsOf(route, policy, c);
      c.input_ids.forEach((row, b) => {
        row.forEach((_, t) => {
          if (c.attention_mask[b][t] === 0) return;
          assert.equal(
            argmax(logits[b][t]),
            c.argmax_ids[b][t],
            `${c.name} row ${b} position ${t}`,
          );
        });
      });
    }
  });

  Deno.test(`${route}: GPT2LM.continuationLogProbs() equals the reference next-token log-probs`, async () => {
    for (const c of cases.filter((c) => c.input_ids.length === 1 && c.input_ids[0].length > 1)) {
      const ids = c.input_ids[0];
      const [got] = await policy.continuationLogProbs([ids.slice(0, 1)], [ids.slice(1)]);
      const want = c.next_token_logprobs[0] as number[];
      assert.equal(got.length, want.length);
      got.forEach((v, t) =>
        assert.ok(Math.abs(v - want[t]) < TOL, `${c.name} t=${t}: ${v} vs ${want[t]}`)
      );
    }
  });

  Deno.test(`${route}: GPT2LM.generate() greedy continuations equal the reference`, async () => {
    for (const g of ref.greedy) {
      const [got] = await policy.generate([g.prompt_ids], {
        maxNewTokens: g.max_new_tokens,
        doSample: false,
      });
      assert.deepEqual(got, g.new_ids);
      const [lp] = await policy.continuationLogProbs([g.prompt_ids], [g.new_ids]);
      lp.forEach((v, t) => assert.ok(Math.abs(v - g.new_token_logprobs[t]) < TOL, `t=${t}`));
    }
  });

  Deno.test(`${route}: GPT2LM a left-padded batch equals its rows run alone`, async () => {
    const rows = [ref.greedy[0].prompt_ids, ref.greedy[1].prompt_ids, [15496]];
    const batch = await policy.logits(rows); // unequal lengths: left-padded internally
    for (let b = 0; b < rows.length; b++) {
      const [alone] = await policy.logits([rows[b]]);
      assert.equal(batch[b].length, rows[b].length);
      let worst = 0;
      alone.forEach((r, t) =>
        r.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - batch[b][t][j]))))
      );
      assert.ok(worst < 1e-4, `row ${b}: ${worst}`);
    }
    const together = await policy.generate(rows, { maxNewTokens: 12, eosTokenId: null });
    for (let b = 0; b < rows.length; b++) {
      assert.deepEqual(
        together[b],
        (await policy.generate([rows[b]], { maxNewTokens: 12, eosTokenId: null }))[0],
      );
    }
    const conts = [[11, 12, 13], [14], [15, 16]];
    const scored = await policy.continuationLogProbs(rows, conts);
    for (let b = 0; b < rows.length; b++) {
      const [alone] = await policy.continuationLogProbs([rows[b]], [conts[b]]);
      alone.forEach((v, t) => assert.ok(Math.abs(v - scored[b][t]) < 1e-4));
    }
  });
}

Deno.test("GPT2LM.generate() sampling is reproducible from the seed and leaks no tensors", async () => {
  const prompts = [ref.greedy[0].prompt_ids, ref.greedy[1].prompt_ids];
  const options = { maxNewTokens: [6, 9], doSample: true, topK: 50, topP: 0.9 };
  await model.generate(prompts, { ...options, rng: new Rng(0) }); // warm-up
  const before = tf.memory().numTensors;
  const a = await model.generate(prompts, { ...options, rng: new Rng(7) });
  const b = await model.generate(prompts, { ...options, rng: new Rng(7) });
  await model.generate(prompts, { maxNewTokens: 4, numBeams: 3 });
  await model.continuationLogProbs(prompts, a);
  await model.logits(prompts);
  assert.equal(tf.memory().numTensors, before);
  assert.deepEqual(a, b);
  assert.deepEqual(a.map((r) => r.length), [6, 9]);
});

Deno.test("GPT2LM.generate() stops a row at its first EOS and keeps the EOS", async () => {
  const tiny = createGPT2(
    { vocabSize: 20, nPositions: 16, nEmbd: 8, nLayer: 1, nHead: 2 },
    new Rng(3),
  );
  const [free] = await tiny.generate([[1, 2]], { maxNewTokens: 8, eosTokenId: null });
  assert.equal(free.length, 8);
  // declare the third greedy token to be EOS: the row must end at its first occurrence
  const eos = free[2];
  const [stopped] = await tiny.generate([[1, 2]], { maxNewTokens: 8, eosTokenId: eos });
  assert.deepEqual(stopped, free.slice(0, free.indexOf(eos) + 1));
  // with EOS suppressed for 8 tokens the row runs to its maximum and never emits it
  const [long] = await tiny.generate([[1, 2]], {
    maxNewTokens: 8,
    minNewTokens: 8,
    eosTokenId: eos,
  });
  assert.equal(long.length, 8);
  assert.ok(!long.includes(eos));
  tiny.dispose();
});

Deno.test("GPT2LM a train step through forwardContinuation lowers the loss and leaks no tensors", () => {
  const tiny = createGPT2(
    { vocabSize: 24, nPositions: 16, nEmbd: 16, nLayer: 2, nHead: 2 },
    new Rng(5),
  );
  const optimizer = tf.train.adam(0.03);
  const prompts = [[1, 2, 3], [4]];
  const conts = [[5, 6, 7, 8], [9, 10]];
  const loss = () =>
    tf.tidy(() => {
      const { logProbs, entropy } = tiny.forwardContinuation(prompts, conts, { entropy: true });
      return tf.sub(tf.neg(tf.sum(logProbs)), tf.mul(0.01, tf.sum(entropy!))) as tf.Scalar;
    });
  const step = () => {
    const value = optimizer.minimize(loss, true, tiny.trainableVariables())!;
    const v = value.dataSync()[0];
    value.dispose();
    return v;
  };
  const first = step();
  const before = tf.memory().numTensors;
  let last = first;
  for (let i = 0; i < 8; i++) last = step();
  assert.equal(tf.memory().numTensors, before);
  assert.ok(last < first * 0.7, `loss ${first} -> ${last}`);
  optimizer.dispose();
  tiny.dispose();
});

Deno.test("GPT2LM.clone() has its own weights", async () => {
  const tiny = createGPT2(
    { vocabSize: 16, nPositions: 8, nEmbd: 8, nLayer: 1, nHead: 2 },
    new Rng(2),
  );
  const copy = tiny.clone();
  const w = tiny.weights.get("ln_f.bias")!;
  w.assign(tf.onesLike(w));
  const a = await tiny.logits([[1, 2]]);
  const b = await copy.logits([[1, 2]]);
  assert.notDeepEqual(a, b);
  tiny.dispose();
  assert.equal((await copy.logits([[1, 2]]))[0].length, 2);
  copy.dispose();
});

Deno.test("createGPT2() follows GPT-2's initialisation", async () => {
  const n = 4;
  const tiny = createGPT2(
    { vocabSize: 64, nPositions: 32, nEmbd: 64, nLayer: n, nHead: 4 },
    new Rng(9),
  );
  const std = async (name: string) => {
    const d = await tiny.weights.get(name)!.data<"float32">();
    const mean = d.reduce((a, b) => a + b, 0) / d.length;
    return Math.sqrt(d.reduce((a, b) => a + (b - mean) ** 2, 0) / d.length);
  };
  assert.ok(Math.abs((await std("h.0.attn.c_attn.weight")) - 0.02) < 0.002);
  assert.ok(Math.abs((await std("h.1.mlp.c_proj.weight")) - 0.02 / Math.sqrt(2 * n)) < 0.001);
  assert.deepEqual(
    Array.from(await tiny.weights.get("h.0.ln_1.weight")!.data()),
    new Array(64).fill(1),
  );
  assert.deepEqual(
    Array.from(await tiny.weights.get("h.0.mlp.c_fc.bias")!.data()),
    new Array(256).fill(0),
  );
  const again = createGPT2(
    { vocabSize: 64, nPositions: 32, nEmbd: 64, nLayer: n, nHead: 4 },
    new Rng(9),
  );
  assert.deepEqual(
    await again.weights.get("wte.weight")!.data(),
    await tiny.weights.get("wte.weight")!.data(),
  );
  tiny.dispose();
  again.dispose();
});

Deno.test("GPT2LM.continuationLogProbs() handles empty continuations and rejects overlong rows", async () => {
  const tiny = createGPT2(
    { vocabSize: 16, nPositions: 8, nEmbd: 8, nLayer: 1, nHead: 2 },
    new Rng(6),
  );
  const out = await tiny.continuationLogProbs([[1], [2, 3]], [[], [4, 5]]);
  assert.equal(out[0].length, 0);
  const [alone] = await tiny.continuationLogProbs([[2, 3]], [[4, 5]]);
  alone.forEach((v, t) => assert.ok(Math.abs(v - out[1][t]) < 1e-6));
  assert.deepEqual(await tiny.continuationLogProbs([[1]], [[]]), [[]]);
  assert.throws(
    () => tiny.forwardContinuation([[1, 2, 3, 4, 5]], [[1, 2, 3, 4, 5]]),
    /exceeds nPositions 8/,
  );
  await assert.rejects(tiny.generate([[1, 2, 3]], { maxNewTokens: 6 }), /exceeds nPositions 8/);
  await assert.rejects(tiny.logits([[1, 16]]), /token 16, expected an integer in \[0, 16\)/);
  tiny.dispose();
});

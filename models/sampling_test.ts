import assert from "node:assert/strict";
import { decodeRows, sampleProbabilities, sampleTopK, selectToken } from "./sampling.ts";
import type { DecodeSession } from "./decode_session.ts";
import { Rng } from "../core/prng.ts";

function logitsOf(probs: number[]): Float32Array {
  return Float32Array.from(probs, Math.log);
}

/** Draw counts per token over n samples. */
function histogram(
  logits: Float32Array,
  n: number,
  choice: Parameters<typeof selectToken>[1],
): number[] {
  const rng = new Rng(123);
  const counts = new Array(logits.length).fill(0);
  for (let i = 0; i < n; i++) counts[selectToken(logits, choice, rng)]++;
  return counts;
}

Deno.test("selectToken() greedy takes the argmax and skips a banned token", () => {
  const logits = Float32Array.from([0.1, 3, -1, 2]);
  assert.equal(selectToken(logits, { doSample: false }), 1);
  assert.equal(selectToken(logits, { doSample: false, banned: 1 }), 3);
});

Deno.test("selectToken() top-k samples only the k most likely, in proportion", () => {
  const logits = Float32Array.from({ length: 10 }, (_, i) => i * 0.5);
  const counts = histogram(logits, 6000, { doSample: true, topK: 3 });
  assert.equal(counts.slice(0, 7).reduce((a, b) => a + b, 0), 0);
  // kept tokens 7, 8, 9 with weights e^3.5 : e^4 : e^4.5
  const z = Math.exp(3.5) + Math.exp(4) + Math.exp(4.5);
  [7, 8, 9].forEach((t) => {
    assert.ok(
      Math.abs(counts[t] / 6000 - Math.exp(t * 0.5) / z) < 0.025,
      `token ${t}: ${counts[t]}`,
    );
  });
});

Deno.test("selectToken() top-p keeps the smallest most-likely set reaching p", () => {
  const logits = logitsOf([0.5, 0.3, 0.15, 0.05]);
  const counts = histogram(logits, 4000, { doSample: true, topP: 0.75 });
  assert.equal(counts[2] + counts[3], 0);
  assert.ok(Math.abs(counts[0] / 4000 - 0.5 / 0.8) < 0.03);
  assert.deepEqual(histogram(logits, 200, { doSample: true, topP: 0.4 }), [200, 0, 0, 0]);
});

Deno.test("selectToken() applies top-p after top-k, on the renormalised top-k set (HF order)", () => {
  // top-k 2 leaves 4/7 and 3/7; p = 0.5 then keeps only the first. On the raw
  // distribution (0.4 < 0.5) it would keep two.
  const counts = histogram(logitsOf([0.4, 0.3, 0.2, 0.1]), 300, {
    doSample: true,
    topK: 2,
    topP: 0.5,
  });
  assert.deepEqual(counts, [300, 0, 0, 0]);
});

Deno.test("selectToken() divides logits by the temperature", () => {
  const logits = Float32Array.from([0, 1]);
  const counts = histogram(logits, 6000, { doSample: true, temperature: 0.5 });
  const p1 = Math.exp(2) / (1 + Math.exp(2));
  assert.ok(Math.abs(counts[1] / 6000 - p1) < 0.02, `${counts}`);
});

Deno.test("selectToken() sampling never returns a banned token and repeats with the seed", () => {
  const logits = logitsOf([0.9, 0.05, 0.05]);
  assert.equal(histogram(logits, 500, { doSample: true, banned: 0 })[0], 0);
  assert.deepEqual(
    histogram(logits, 50, { doSample: true }),
    histogram(logits, 50, { doSample: true }),
  );
});

/** A session whose logits make EOS (id 0) the favourite and token `r + 1` second for row r. */
class FakeSession implements DecodeSession {
  readonly vocabSize = 6;
  fed: number[][] = [];
  constructor(readonly rows: number) {}
  #logits(): Float32Array {
    const out = new Float32Array(this.rows * this.vocabSize);
    for (let r = 0; r < this.rows; r++) {
      out[r * this.vocabSize] = 5;
      out[r * this.vocabSize + r + 1] = 4;
    }
    return out;
  }
  prefill(): Promise<Float32Array> {
    return Promise.resolve(this.#logits());
  }
  step(tokens: Int32Array): Promise<Float32Array> {
    this.fed.push(Array.from(tokens));
    return Promise.resolve(this.#logits());
  }
  dispose(): void {}
}

Deno.test("decodeRows() suppresses EOS until minNewTokens, then stops each row at its EOS", async () => {
  const session = new FakeSession(2);
  const out = await decodeRows(session, [[1], [2, 3]], {
    doSample: false,
    maxNewTokens: [10, 10],
    minNewTokens: [3, 3],
    eosTokenId: 0,
  });
  assert.deepEqual(out, [[1, 1, 1, 0], [2, 2, 2, 0]]);
  assert.equal(session.fed.length, 3); // no step after the last row ends
});

Deno.test("decodeRows() takes one minNewTokens per row", async () => {
  const out = await decodeRows(new FakeSession(2), [[1], [2, 3]], {
    doSample: false,
    maxNewTokens: [10, 10],
    minNewTokens: [1, 4],
    eosTokenId: 0,
  });
  assert.deepEqual(out, [[1, 0], [2, 2, 2, 2, 0]]);
});

Deno.test("decodeRows() honours one maxNewTokens per row and a null EOS", async () => {
  const out = await decodeRows(new FakeSession(3), [[1], [1], [1]], {
    doSample: false,
    maxNewTokens: [1, 3, 0],
    minNewTokens: [0, 0, 0],
    eosTokenId: null,
  });
  assert.deepEqual(out, [[0], [0, 0, 0], []]);
});

Deno.test("sampleProbabilities() draws what selectToken() draws from the logits, banned token too", () => {
  const rng = new Rng(5);
  const logits = Float32Array.from({ length: 500 }, () => 3 * rng.random() - 1);
  for (const banned of [null, 7]) {
    for (const temperature of [1, 0.7]) {
      // the softmax a session computes (float32), here in float64 then rounded
      const top = Math.max(...logits) / temperature;
      const weights = Array.from(logits, (l) => Math.exp(l / temperature - top));
      const total = weights.reduce((a, b) => a + b, 0);
      const probabilities = Float32Array.from(weights, (w) => w / total);
      const a = new Rng(11), b = new Rng(11);
      for (let i = 0; i < 300; i++) {
        const want = selectToken(logits, { doSample: true, temperature, banned }, a);
        assert.equal(sampleProbabilities(probabilities, banned, b), want, `draw ${i}`);
        assert.notEqual(want, banned);
      }
    }
  }
});

Deno.test("decodeRows() samples the whole vocabulary from a session's probabilities when it has them", async () => {
  const vocab = 6;
  const logits = Float32Array.from([0, 1, 2, 0.5, -1, 1.5, 2, 1, 0, 0, 0.3, 0.1]);
  let asked = 0;
  const session = (withProbabilities: boolean): DecodeSession => ({
    rows: 2,
    vocabSize: vocab,
    prefill: () => Promise.resolve(logits),
    step: () => Promise.resolve(logits),
    dispose() {},
    ...(withProbabilities
      ? {
        probabilities(l: Float32Array, temperature: number) {
          asked++;
          const out = new Float32Array(l.length);
          for (let r = 0; r < 2; r++) {
            const row = Array.from(l.subarray(r * vocab, (r + 1) * vocab), (x) => x / temperature);
            const top = Math.max(...row);
            const w = row.map((x) => Math.exp(x - top));
            const total = w.reduce((a, b) => a + b, 0);
            w.forEach((x, i) => out[r * vocab + i] = x / total);
          }
          return Promise.resolve(out);
        },
      }
      : {}),
  });
  const options = {
    maxNewTokens: [5, 5],
    minNewTokens: [2, 2],
    eosTokenId: 2,
    doSample: true,
    temperature: 0.9,
  };
  const viaLogits = await decodeRows(session(false), [[1], [2]], { ...options, rng: new Rng(3) });
  const viaProbabilities = await decodeRows(session(true), [[1], [2]], {
    ...options,
    rng: new Rng(3),
  });
  assert.deepEqual(viaProbabilities, viaLogits);
  assert.ok(asked > 0, "the session's probabilities were used");
  // top-k cuts the vocabulary: the logits path, not the session's softmax
  asked = 0;
  await decodeRows(session(true), [[1], [2]], { ...options, topK: 3, rng: new Rng(3) });
  assert.equal(asked, 0);
});

/** ONNX's TopK as it is specified: the k largest, descending, ties by the lower index. */
function onnxTopK(logits: Float32Array, k: number) {
  const order = Array.from(logits, (_, i) => i).sort((a, b) => logits[b] - logits[a] || a - b)
    .slice(0, k);
  return { values: order.map((i) => logits[i]), indices: order };
}

Deno.test("sampleTopK() on a session's top-k draws what selectToken() draws (ties, banned, top-p)", () => {
  const rng = new Rng(8);
  // values on a coarse grid: many ties, also at the k-th place
  const logits = Float32Array.from({ length: 200 }, () => Math.round(rng.random() * 12) / 4);
  for (const topK of [1, 5, 40]) {
    for (const topP of [1, 0.8]) {
      const ranked = onnxTopK(logits, topK + 1);
      for (const banned of [null, ranked.indices[0], ranked.indices[topK], 199]) {
        const a = new Rng(2), b = new Rng(2);
        const choice = { doSample: true, topK, topP, temperature: 0.9, banned };
        for (let i = 0; i < 100; i++) {
          const want = selectToken(logits, choice, a);
          const got = sampleTopK(ranked.values, ranked.indices, choice, b);
          assert.equal(got, want, `top-k ${topK}, top-p ${topP}, banned ${banned}, draw ${i}`);
        }
      }
    }
  }
});

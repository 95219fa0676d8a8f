import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "./backend.ts";
import { GPT2LM } from "./gpt2.ts";
import { createT5, T5LM } from "./t5.ts";
import { loadPolicy, loadSeq2SeqLM, saveSeq2SeqLM } from "./t5_checkpoint.ts";
import { T5Session } from "./t5_session.ts";
import { t5WeightShapes } from "./t5_config.ts";
import { type HostTensor, readSafetensors, writeSafetensors } from "./safetensors.ts";
import { Rng } from "../core/prng.ts";

await initBackend();
const TOL = 2e-4; // the bound
const fixture = (name: string) => new URL(`../tests/fixtures/${name}`, import.meta.url).pathname;

interface RefCase {
  name: string;
  input_ids: number[][];
  attention_mask: number[][];
  labels: number[][];
  decoder_input_ids: number[][];
  decoder_attention_mask: number[][];
  argmax_ids: (number | null)[][];
  target_logprobs: (number | null)[][];
  sum_target_logprob: number[];
  logits: (number[] | null)[][];
}
interface RefGreedy {
  input_ids: number[];
  max_new_tokens: number;
  new_ids: number[];
  new_token_logprobs: number[];
}
interface Ref {
  cases: RefCase[];
  greedy: RefGreedy[];
  sensitivity_max_abs_logit_change: Record<string, number>;
}

const unpad = (row: number[], mask: number[]) => row.filter((_, j) => mask[j] === 1);
const labelsOf = (c: RefCase) => c.labels.map((row) => row.filter((id) => id !== -100));
const promptsOf = (c: RefCase) => c.input_ids.map((row, b) => unpad(row, c.attention_mask[b]));

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

async function withDir(f: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await f(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function sameWeights(a: T5LM, b: T5LM): Promise<void> {
  const ha = await a.toHost();
  const hb = await b.toHost();
  assert.deepEqual([...ha.keys()], [...hb.keys()]);
  for (const [name, t] of ha) {
    assert.deepEqual(hb.get(name)!.shape, t.shape, name);
    assert.deepEqual(
      new Uint8Array(hb.get(name)!.data.buffer),
      new Uint8Array(t.data.buffer),
      name,
    );
  }
}

for (const name of ["tiny-t5", "tiny-t5-v1_1"]) {
  const dir = fixture(name);
  const ref: Ref = JSON.parse(await Deno.readTextFile(`${dir}/reference.json`));
  const model = await loadSeq2SeqLM(dir);

  Deno.test(`${name}: weights are keyed exactly by t5WeightShapes`, () => {
    const shapes = t5WeightShapes(model.config);
    assert.deepEqual([...model.weights.keys()], [...shapes.keys()]);
    for (const [key, w] of model.weights) assert.deepEqual(w.shape, shapes.get(key), key);
  });

  Deno.test(`${name}: logits() within 2e-4 of the float64 reference on every non-pad decoder row`, async () => {
    let worst = 0;
    for (const c of ref.cases) {
      const logits = await model.logits(c.input_ids, c.decoder_input_ids, {
        attentionMask: c.attention_mask,
        decoderAttentionMask: c.decoder_attention_mask,
      });
      c.logits.forEach((rows, b) =>
        rows.forEach((expected, i) => {
          if (expected === null) return; // a decoder pad position
          const d = maxDiff(logits[b][i], expected);
          worst = Math.max(worst, d);
          assert.ok(d < TOL, `${c.name} row ${b} position ${i}: max |logit - reference| = ${d}`);
          const argmax = logits[b][i].indexOf(Math.max(...logits[b][i]));
          assert.equal(argmax, c.argmax_ids[b][i], `${c.name} row ${b} position ${i} argmax`);
        })
      );
    }
    console.log(`${name}: max |logit - reference| = ${worst.toExponential(2)}`);
    // the sensitivity table: every listed mistake moves some logit far beyond the tolerance,
    // an honest float32 forward stays far inside it
    const table = ref.sensitivity_max_abs_logit_change;
    for (const [mistake, change] of Object.entries(table)) {
      if (mistake === "float32_forward_same_math") assert.ok(change < TOL / 10, mistake);
      else assert.ok(change > 1000 * TOL, `${mistake}: ${change}`);
    }
    assert.ok(worst < 10 * table.float32_forward_same_math, `${worst}`);
  });

  Deno.test(`${name}: a right-padded batch equals its rows alone (logits, log-probs, greedy)`, async () => {
    const c = ref.cases.find((c) => c.name === "right_padded_batch")!;
    const prompts = promptsOf(c);
    const decoderRows = c.decoder_input_ids.map((row, b) =>
      unpad(row, c.decoder_attention_mask[b])
    );
    // ragged rows without masks: right-padded internally, each row's real positions returned
    const ragged = await model.logits(prompts, decoderRows);
    for (let b = 0; b < prompts.length; b++) {
      const [alone] = await model.logits([prompts[b]], [decoderRows[b]]);
      assert.equal(ragged[b].length, decoderRows[b].length);
      alone.forEach((row, i) => assert.ok(maxDiff(row, ragged[b][i]) < 1e-5, `row ${b} pos ${i}`));
      c.logits[b].forEach((expected, i) => {
        if (expected) assert.ok(maxDiff(ragged[b][i], expected) < TOL);
      });
    }
    const labels = labelsOf(c);
    const batch = await model.continuationLogProbs(prompts, labels);
    for (let b = 0; b < prompts.length; b++) {
      const [alone] = await model.continuationLogProbs([prompts[b]], [labels[b]]);
      assert.ok(maxDiff(batch[b], alone) < 1e-5);
    }
    // an empty continuation scores as [] and leaves its neighbour alone
    const [first, empty] = await model.continuationLogProbs(prompts, [labels[0], []]);
    assert.deepEqual(empty, []);
    assert.ok(maxDiff(first, batch[0]) < 1e-5);
    const greedyPrompts = ref.greedy.map((g) => g.input_ids);
    const together = await model.generate(greedyPrompts, { maxNewTokens: 12, eosTokenId: null });
    // the same prompts padded by hand (pads 7, not the pad id) with an explicit encoder mask
    const width = Math.max(...greedyPrompts.map((p) => p.length));
    const padded = greedyPrompts.map((p) => [...p, ...new Array(width - p.length).fill(7)]);
    const masked = await model.generate(padded, {
      maxNewTokens: 12,
      eosTokenId: null,
      attentionMask: greedyPrompts.map((p) => padded[0].map((_, j) => (j < p.length ? 1 : 0))),
    });
    for (let b = 0; b < greedyPrompts.length; b++) {
      assert.deepEqual(together[b], ref.greedy[b].new_ids);
      assert.deepEqual(masked[b], ref.greedy[b].new_ids);
    }
  });

  Deno.test(`${name}: target log-probs (continuationLogProbs and forwardContinuation) within 2e-4`, async () => {
    let worst = 0;
    for (const c of ref.cases) {
      const prompts = promptsOf(c);
      const labels = labelsOf(c);
      const scored = await model.continuationLogProbs(prompts, labels);
      const out = model.forwardContinuation(prompts, labels, { entropy: true });
      const forward = (await out.logProbs.array()) as number[][];
      const entropy = (await out.entropy!.array()) as number[][];
      assert.deepEqual(out.hidden.shape, [
        prompts.length,
        Math.max(...labels.map((l) => l.length)),
        model.config.dModel,
      ]);
      tf.dispose([out.logProbs, out.entropy!, out.hidden]);
      c.target_logprobs.forEach((row, b) => {
        const expected = row.filter((v) => v !== null) as number[];
        assert.equal(scored[b].length, expected.length);
        worst = Math.max(worst, maxDiff(scored[b], expected));
        assert.ok(maxDiff(scored[b], expected) < TOL, `${c.name} row ${b}`);
        assert.ok(
          maxDiff(forward[b].slice(0, expected.length), expected) < TOL,
          `${c.name} row ${b}`,
        );
        forward[b].slice(expected.length).forEach((v) => assert.ok(v === 0)); // pads
        entropy[b].slice(expected.length).forEach((v) => assert.ok(v === 0));
        entropy[b].slice(0, expected.length).forEach((v) =>
          assert.ok(v > 0 && v <= Math.log(50257) + 1e-3)
        );
        const sum = scored[b].reduce((a, v) => a + v, 0);
        assert.ok(Math.abs(sum - c.sum_target_logprob[b]) < 2e-3, `${c.name} sum`);
      });
    }
    console.log(`${name}: max |log-prob - reference| = ${worst.toExponential(2)}`);
  });

  Deno.test(`${name}: greedy generate() gives the reference ids; their log-probs match`, async () => {
    for (const g of ref.greedy) {
      const [ids] = await model.generate([g.input_ids], {
        maxNewTokens: g.max_new_tokens,
        eosTokenId: null,
      });
      assert.deepEqual(ids, g.new_ids);
      const [lp] = await model.continuationLogProbs([g.input_ids], [g.new_ids]);
      assert.ok(maxDiff(lp, g.new_token_logprobs) < TOL);
      // beam search with one beam is greedy
      const [beam] = await model.generate([g.input_ids], {
        maxNewTokens: g.max_new_tokens,
        numBeams: 1,
        eosTokenId: null,
      });
      assert.deepEqual(beam, g.new_ids);
    }
  });

  Deno.test(`${name}: the decode session's cached steps equal a full teacher-forced forward, beams reordered`, async () => {
    const prompts = ref.greedy.map((g) => g.input_ids);
    const session = new T5Session(model, 2);
    const v = model.config.vocabSize;
    const start = model.config.decoderStartTokenId;
    const rows: number[][] = [[start], [start]];
    const owner = [0, 1]; // which prompt each row decodes
    let logits = await session.prefill(prompts);
    const steps: [number[], number[] | undefined][] = [[[11, 12], undefined], [[13, 14], [1, 0]], [[
      15,
      16,
    ], [1, 1]]];
    for (const [tokens, parents] of steps) {
      if (parents) {
        const copy = rows.map((r) => [...r]);
        const owners = [...owner];
        parents.forEach((p, r) => {
          rows[r] = [...copy[p]];
          owner[r] = owners[p];
        });
      }
      tokens.forEach((t, r) => rows[r].push(t));
      logits = await session.step(
        Int32Array.from(tokens),
        parents ? Int32Array.from(parents) : undefined,
      );
      for (let r = 0; r < 2; r++) {
        const [full] = await model.logits([prompts[owner[r]]], [rows[r]]);
        const d = maxDiff(logits.subarray(r * v, (r + 1) * v), full[full.length - 1]);
        assert.ok(d < 1e-4, `row ${r} after ${rows[r].length} tokens: ${d}`);
      }
    }
    session.dispose();
  });

  Deno.test(`${name}: no tensor leaks in sampling, beam search, scoring and a gradient step`, async () => {
    const prompts = [ref.greedy[0].input_ids, [15496, 995]];
    const continuations = [[9104, 293, 300], [4789]];
    await model.generate(prompts, { maxNewTokens: 2, doSample: true, rng: new Rng(1) }); // warm up
    const before = tf.memory().numTensors;
    const sampled = await model.generate(prompts, {
      maxNewTokens: 4,
      minNewTokens: 2,
      doSample: true,
      temperature: 0.8,
      topK: 50,
      topP: 0.9,
      rng: new Rng(3),
    });
    assert.equal(sampled.length, 2);
    sampled.forEach((row) => assert.ok(row.length >= 2 && row.length <= 4));
    const beams = await model.generate(prompts, { maxNewTokens: 3, numBeams: 3 });
    assert.equal(beams.length, 2);
    // the same prompts padded by hand with an encoder mask: the same beams
    const width = prompts[0].length;
    const padded = prompts.map((p) => [...p, ...new Array(width - p.length).fill(5)]);
    const attentionMask = prompts.map((p) => padded[0].map((_, j) => (j < p.length ? 1 : 0)));
    assert.deepEqual(
      await model.generate(padded, { maxNewTokens: 3, numBeams: 3, attentionMask }),
      beams,
    );
    assert.equal(tf.memory().numTensors, before, "generate");
    await model.continuationLogProbs(prompts, continuations);
    await model.logits(prompts, [[model.config.decoderStartTokenId], [
      model.config.decoderStartTokenId,
      5,
    ]]);
    assert.equal(tf.memory().numTensors, before, "scoring");
    const optimizer = tf.train.sgd(1e-3);
    const copy = model.clone();
    const afterClone = tf.memory().numTensors;
    optimizer.minimize(
      () => {
        const out = copy.forwardContinuation(prompts, continuations, { entropy: true });
        return tf.sub(
          tf.neg(tf.mean(out.logProbs)),
          tf.mul(0.01, tf.mean(out.entropy!)),
        ) as tf.Scalar;
      },
      false,
      copy.trainableVariables(),
    );
    assert.equal(tf.memory().numTensors, afterClone, "gradient step");
    const [changed] = await copy.continuationLogProbs([prompts[0]], [continuations[0]]);
    const [original] = await model.continuationLogProbs([prompts[0]], [continuations[0]]);
    assert.ok(maxDiff(changed, original) > 0, "the step moved the weights");
    copy.dispose();
    optimizer.dispose();
    assert.equal(tf.memory().numTensors, before, "clone disposed");
  });
}

Deno.test("save then load is bit-identical (weights, config, logits, tokenizer) in Hugging Face's layout", async () => {
  for (const name of ["tiny-t5", "tiny-t5-v1_1"]) {
    const model = await loadSeq2SeqLM(fixture(name));
    await withDir(async (dir) => {
      await saveSeq2SeqLM(model, dir);
      const back = await loadSeq2SeqLM(dir);
      await sameWeights(model, back);
      assert.deepEqual(back.config, model.config);
      const inputs = [[464, 2068, 7586]], decoder = [[50256, 9626, 264]];
      assert.deepEqual(await back.logits(inputs, decoder), await model.logits(inputs, decoder));
      assert.deepEqual(back.tokenizer!.encode("Hello"), [15496]);
      // the fixture's tensors come back unchanged, under the same names
      const original = await readSafetensors(`${fixture(name)}/model.safetensors`);
      const saved = await readSafetensors(`${dir}/model.safetensors`);
      assert.deepEqual([...saved.keys()].sort(), [...original.keys()].sort());
      for (const [key, t] of original) {
        assert.deepEqual(
          new Uint8Array(saved.get(key)!.data.buffer),
          new Uint8Array(t.data.buffer),
          key,
        );
      }
      const config = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
      assert.equal(config.model_type, "t5");
      back.dispose();
    });
    model.dispose();
  }
});

/** A copy of a fixture's config.json and weights, edited, in a temporary folder. */
async function editedCopy(
  name: string,
  dir: string,
  edit: {
    config?: Record<string, unknown>;
    tensors?: (t: Map<string, HostTensor>) => void;
    tokenizer?: boolean;
  },
): Promise<void> {
  const config = JSON.parse(await Deno.readTextFile(`${fixture(name)}/config.json`));
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify({ ...config, ...edit.config }));
  const tensors = await readSafetensors(`${fixture(name)}/model.safetensors`);
  edit.tensors?.(tensors);
  await writeSafetensors(`${dir}/model.safetensors`, tensors, { format: "pt" });
  if (edit.tokenizer) {
    for (const file of ["tokenizer.json", "tokenizer_config.json"]) {
      await Deno.copyFile(`${fixture(name)}/${file}`, `${dir}/${file}`);
    }
  }
}

async function loadError(
  dir: string,
  load: (dir: string) => Promise<unknown> = loadSeq2SeqLM,
): Promise<string> {
  try {
    await load(dir);
  } catch (error) {
    const message = (error as Error).message;
    assert.ok(!message.includes("\n"), `one line: ${message}`);
    return message;
  }
  throw new Error(`${dir} loaded`);
}

Deno.test("loadSeq2SeqLM() takes embed_tokens copies, a tied lm_head copy, t5-base's unused cross-attention bias and a sharded index", async () => {
  const model = await loadSeq2SeqLM(fixture("tiny-t5"));
  await withDir(async (dir) => {
    await editedCopy("tiny-t5", dir, {
      tensors: (t) => {
        const shared = t.get("shared.weight")!;
        for (
          const copy of [
            "encoder.embed_tokens.weight",
            "decoder.embed_tokens.weight",
            "lm_head.weight",
          ]
        ) {
          t.set(copy, shared);
        }
        // t5-base's checkpoint has this unused table; Hugging Face ignores it on load
        t.set("decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight", {
          shape: [32, 4],
          data: new Float32Array(128),
        });
      },
    });
    const withCopies = await loadSeq2SeqLM(dir);
    await sameWeights(model, withCopies);
    withCopies.dispose();
    // sharded: no model.safetensors, an index over two shards; shared.weight only as a copy
    const tensors = await readSafetensors(`${dir}/model.safetensors`);
    tensors.delete("shared.weight");
    tensors.delete("lm_head.weight");
    tensors.delete("decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight");
    const names = [...tensors.keys()];
    const shards = [names.slice(0, 20), names.slice(20)];
    const weightMap: Record<string, string> = {};
    for (const [i, shard] of shards.entries()) {
      const file = `model-0000${i + 1}-of-00002.safetensors`;
      await writeSafetensors(`${dir}/${file}`, new Map(shard.map((n) => [n, tensors.get(n)!])));
      for (const n of shard) weightMap[n] = file;
    }
    await Deno.remove(`${dir}/model.safetensors`);
    await Deno.writeTextFile(
      `${dir}/model.safetensors.index.json`,
      JSON.stringify({ weight_map: weightMap }),
    );
    const sharded = await loadSeq2SeqLM(dir);
    await sameWeights(model, sharded);
    sharded.dispose();
  });
  model.dispose();
});

Deno.test("loadSeq2SeqLM() reads a BF16 checkpoint as its float32 values", async () => {
  const original = await readSafetensors(`${fixture("tiny-t5-v1_1")}/model.safetensors`);
  await withDir(async (dir) => {
    await Deno.copyFile(`${fixture("tiny-t5-v1_1")}/config.json`, `${dir}/config.json`);
    // BF16 is the top half of a float32: write each tensor's top halves under a BF16 header
    const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
    const halves: Uint16Array[] = [];
    let offset = 0;
    for (const [name, t] of original) {
      const bits = new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length);
      halves.push(Uint16Array.from(bits, (b) => b >>> 16));
      header[name] = {
        dtype: "BF16",
        shape: t.shape,
        data_offsets: [offset, offset + 2 * t.data.length],
      };
      offset += 2 * t.data.length;
    }
    const json = new TextEncoder().encode(JSON.stringify(header));
    const bytes = new Uint8Array(8 + json.length + offset);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
    bytes.set(json, 8);
    let at = 8 + json.length;
    for (const h of halves) {
      bytes.set(new Uint8Array(h.buffer), at);
      at += h.byteLength;
    }
    await Deno.writeFile(`${dir}/model.safetensors`, bytes);
    const model = await loadSeq2SeqLM(dir);
    const host = await model.toHost();
    for (const [name, t] of original) {
      const expected = Uint32Array.from(
        new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length),
        (b) => (b & 0xffff0000) >>> 0,
      );
      assert.deepEqual(new Uint32Array(host.get(name)!.data.buffer), expected, name);
    }
    model.dispose();
  });
});

Deno.test("a bad T5 checkpoint is a one-line error naming the file and the tensor or field", async () => {
  await withDir(async (dir) => {
    const relative = "decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight";
    await editedCopy("tiny-t5", dir, { tensors: (t) => t.delete(relative) });
    let message = await loadError(dir);
    assert.match(message, new RegExp(`^${dir}/model\\.safetensors: Missing tensor "${relative}"`));

    await editedCopy("tiny-t5", dir, { config: { num_heads: 2 } });
    message = await loadError(dir);
    assert.ok(
      message.startsWith(
        `${dir}/model.safetensors: Tensor "encoder.block.0.layer.0.SelfAttention.q.weight" has shape [64,64], expected [32,64]`,
      ),
      message,
    );
    assert.ok(message.includes("num_heads × d_kv = 2 × 16 = 32"), message);

    await editedCopy("tiny-t5", dir, { config: { feed_forward_proj: "swiglu" } });
    message = await loadError(dir);
    assert.ok(
      message.startsWith(`${dir}/config.json: unknown "feed_forward_proj" "swiglu"`),
      message,
    );

    await editedCopy("tiny-t5-v1_1", dir, {
      tensors: (t) =>
        t.set("decoder.block.1.layer.2.DenseReluDense.wi_1.weight", {
          shape: [63, 32],
          data: new Float32Array(63 * 32),
        }),
    });
    message = await loadError(dir);
    assert.ok(
      message.includes(
        `Tensor "decoder.block.1.layer.2.DenseReluDense.wi_1.weight" has shape [63,32], expected [64,32]`,
      ),
      message,
    );

    await editedCopy("tiny-t5", dir, {
      config: { vocab_size: 50000, pad_token_id: 0, eos_token_id: 0, decoder_start_token_id: 0 },
      tokenizer: true,
    });
    message = await loadError(dir);
    assert.ok(message.includes("tokenizer whose vocabulary does not fit"), message);
    assert.ok(message.includes(`${dir}/tokenizer.json has 50257 tokens`), message);
    assert.ok(message.includes(`${dir}/config.json has vocab_size 50000`), message);

    await editedCopy("tiny-t5", dir, { config: { model_type: "bert" } });
    message = await loadError(dir, loadPolicy);
    assert.ok(
      message.startsWith(`${dir}/config.json: Field "model_type" is "bert"; expected "gpt2"`),
      message,
    );
    message = await loadError(dir);
    assert.ok(
      message.startsWith(`${dir}/config.json: Field "model_type" is "bert", expected "t5"`),
      message,
    );
  });
});

Deno.test("loadPolicy() picks the loader by model_type; the T5 folder's tokenizer loads", async () => {
  const gpt2 = await loadPolicy(fixture("tiny-gpt2"));
  assert.ok(gpt2 instanceof GPT2LM);
  gpt2.dispose();
  const t5 = await loadPolicy(fixture("tiny-t5"));
  assert.ok(t5 instanceof T5LM);
  assert.deepEqual(t5.tokenizer!.encode("The quick brown fox jumps over the lazy dog"), [
    464,
    2068,
    7586,
    21831,
    18045,
    625,
    262,
    16931,
    3290,
  ]);
  assert.equal(t5.tokenizer!.eosTokenId, t5.config.eosTokenId);
  t5.dispose();
});

Deno.test("a T5 folder with a SentencePiece Unigram tokenizer.json loads it; a larger vocab_size is fine", async () => {
  const tokenizerDir = fixture("t5-unigram-tokenizer");
  const model = createT5({
    vocabSize: 24, // the tokenizer has 20 ids: the embedding table may be larger, never smaller
    dModel: 8,
    dKv: 4,
    numHeads: 2,
    dFf: 16,
    numLayers: 1,
    numDecoderLayers: 1,
  }, new Rng(2));
  await withDir(async (dir) => {
    await saveSeq2SeqLM(model, dir);
    for (const file of ["tokenizer.json", "tokenizer_config.json"]) {
      await Deno.copyFile(`${tokenizerDir}/${file}`, `${dir}/${file}`);
    }
    const back = await loadSeq2SeqLM(dir);
    const tokenizer = back.tokenizer!;
    assert.deepEqual([tokenizer.vocabSize, tokenizer.eosTokenId, tokenizer.padTokenId], [20, 1, 0]);
    assert.deepEqual(tokenizer.encode("the dogs run"), [8, 4, 6, 7]);
    assert.equal(tokenizer.decode([8, 4, 6, 1]), "the dogs");
    const [ids] = await back.generate([tokenizer.encode("the cat")], { maxNewTokens: 3 });
    assert.ok(ids.length >= 1 && ids.length <= 3);
    back.dispose();
    const config = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify({ ...config, vocab_size: 16 }));
    const message = await loadError(dir);
    assert.ok(message.includes(`${dir}/tokenizer.json has 20 tokens`), message);
    assert.ok(message.includes(`${dir}/config.json has vocab_size 16`), message);
  });
  model.dispose();
});

Deno.test("createT5(): the training forward's gradients equal plain autograd of the decoding forward", async () => {
  for (const feedForwardProj of ["relu", "gated-gelu"] as const) {
    const model = createT5({
      vocabSize: 40,
      dModel: 16,
      dKv: 4,
      numHeads: 2,
      dFf: 24,
      numLayers: 2,
      numDecoderLayers: 2,
      relativeAttentionNumBuckets: 8,
      relativeAttentionMaxDistance: 10,
      feedForwardProj,
      tieWordEmbeddings: feedForwardProj === "relu",
      padTokenId: 0,
      eosTokenId: 1,
      decoderStartTokenId: 0,
    }, new Rng(7));
    const prompts = [[5, 6, 7, 8, 9, 10, 11, 12, 13, 14], [3, 4]];
    const continuations = [[20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31], [2, 3, 4]];
    const vars = model.trainableVariables();
    const weights = new Float32Array(2 * 12).fill(0);
    continuations.forEach((c, b) => c.forEach((_, j) => (weights[b * 12 + j] = 1 + 0.1 * j)));
    const trained = tf.variableGrads(() => {
      const { logProbs } = model.forwardContinuation(prompts, continuations);
      return tf.sum(tf.mul(logProbs, tf.tensor2d(weights, [2, 12]))) as tf.Scalar;
    }, vars);
    // the same loss through the decoding ops (tf.matMul with transposes, tf.gather), by tfjs autograd
    const plain = tf.variableGrads(() => {
      const enc = {
        ids: Int32Array.from([...prompts[0], ...prompts[1], 0, 0, 0, 0, 0, 0, 0, 0]),
        mask: Uint8Array.from([...prompts[0].map(() => 1), 1, 1, ...new Array(8).fill(0)]),
        b: 2,
        t: 10,
      };
      const decIds = new Int32Array(24);
      const decMask = new Uint8Array(24);
      const targets = new Int32Array(24);
      continuations.forEach((c, b) => {
        const inputs = [0, ...c.slice(0, -1)];
        inputs.forEach((id, j) => {
          decIds[b * 12 + j] = id;
          decMask[b * 12 + j] = 1;
        });
        c.forEach((id, j) => (targets[b * 12 + j] = id));
      });
      const cross = model.crossState(model.encode(enc, true), enc, true);
      const { hidden } = model.decode(decIds, 2, 12, decMask, cross, undefined, true);
      const { weight, scale } = model.head();
      const logits = tf.matMul(tf.mul(hidden, scale), weight, false, true);
      const logp = tf.sub(logits, tf.logSumExp(logits, 1, true));
      const picked = tf.sum(
        tf.mul(logp, tf.oneHot(tf.tensor1d(targets, "int32"), 40).toFloat()),
        1,
      );
      return tf.sum(tf.mul(picked, tf.tensor1d(weights))) as tf.Scalar;
    }, vars);
    assert.ok(Math.abs((await trained.value.data())[0] - (await plain.value.data())[0]) < 1e-4);
    for (const v of vars) {
      const a = await trained.grads[v.name].data();
      const b = await plain.grads[v.name].data();
      let scale = 0;
      for (const x of b) scale = Math.max(scale, Math.abs(x));
      assert.ok(scale > 0, `${feedForwardProj}: ${v.name} gets a gradient`);
      assert.ok(
        maxDiff(a, b) <= 1e-4 * scale + 1e-6,
        `${feedForwardProj}: ${v.name} ${maxDiff(a, b)} of ${scale}`,
      );
    }
    tf.dispose([
      trained.value,
      plain.value,
      ...Object.values(trained.grads),
      ...Object.values(plain.grads),
    ]);
    model.dispose();
  }
});

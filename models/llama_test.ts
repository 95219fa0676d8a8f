/**
 * Issue 18: the Llama family on the engine against tests/fixtures/tiny-llama (an independent
 * float64 PyTorch forward; reference.json trimmed from the shared fixture by its
 * trim_reference.py): logits within 2e-4 at every position (left padding included), next-token
 * log-probs, 20 greedy tokens identical (cached decoding), a left-padded batch equal to its rows
 * alone, save-then-load bit-identical; a Qwen2-layout model (q/k/v biases, untied head, another
 * rope_theta) against the same math written in this test; bad checkpoints named.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "./backend.ts";
import { llamaFromHost, LlamaLM, loadLlama, saveLlama } from "./llama.ts";
import { loadPolicy, savePolicy } from "./t5_checkpoint.ts";
import {
  type LlamaConfig,
  llamaConfigFromHF,
  llamaWeightShapes,
  ropeInverseFrequencies,
} from "./llama_config.ts";
import { OnnxLlamaEngine, OnnxLlamaLM } from "./engine/llama_engine.ts";
import { loraGraphSpec } from "./engine/lora_graph.ts";
import {
  createLoraAdapters,
  LLAMA_LORA_LAYOUT,
  loadLoraAdapters,
  saveLoraAdapters,
} from "./lora.ts";
import { Rng } from "../core/prng.ts";
import { type HostTensor, readSafetensors } from "./safetensors.ts";

await initBackend();
const dir = new URL("../tests/fixtures/tiny-llama", import.meta.url).pathname;
const reference = JSON.parse(await Deno.readTextFile(`${dir}/reference.json`));
const columns: number[] = reference.logit_columns;

interface Case {
  name: string;
  input_ids: number[][];
  attention_mask: number[][];
  argmax_ids: (number | null)[][];
  next_token_logprobs: (number | null)[][];
  logits_positions: number[];
  logits_at_columns: (number[] | null)[][];
}
const cases: Case[] = reference.cases;

/** max |logit − reference| over a case's recorded positions and columns. */
function worstLogit(got: number[][][], c: Case): number {
  let worst = 0;
  c.logits_at_columns.forEach((rows, b) =>
    rows.forEach((row, j) => {
      if (row === null) return;
      const t = c.logits_positions[j];
      row.forEach((v, k) => worst = Math.max(worst, Math.abs(got[b][t][columns[k]] - v)));
    })
  );
  return worst;
}

Deno.test("Llama on the engine: logits, log-probs and greedy decoding as PyTorch computes them", async () => {
  const model = await loadLlama(dir);
  const engine = await OnnxLlamaEngine.create(model.config);
  try {
    for (const c of cases) {
      const logits = await engine.logits(model, c.input_ids, c.attention_mask);
      assert.ok(worstLogit(logits, c) <= 2e-4, `${c.name}: ${worstLogit(logits, c)}`);
      c.argmax_ids.forEach((row, b) =>
        row.forEach((id, t) => {
          if (id === null) return;
          const l = logits[b][t];
          assert.equal(l.indexOf(Math.max(...l)), id, `${c.name} argmax ${b},${t}`);
        })
      );
      // next-token log-probs of each row alone (the left-padded batch's rows unpadded)
      for (let b = 0; b < c.input_ids.length; b++) {
        const ids = c.input_ids[b].filter((_, t) => c.attention_mask[b][t] === 1);
        if (ids.length < 2) continue;
        const [lp] = await engine.continuationLogProbs(model, [ids.slice(0, 1)], [ids.slice(1)]);
        const want = c.next_token_logprobs[b].filter((v) => v !== null) as number[];
        want.forEach((v, t) => assert.ok(Math.abs(lp[t] - v) <= 2e-4, `${c.name} lp ${b},${t}`));
      }
    }
    // the left-padded batch equals its rows alone
    const padded = cases.find((c) => c.name === "left_padded_batch")!;
    const short = padded.input_ids[1].filter((_, t) => padded.attention_mask[1][t] === 1);
    const [alone] = await engine.logits(model, [short]);
    const [inBatch] = (await engine.logits(model, [padded.input_ids[0], short])).slice(1);
    let worst = 0;
    alone.forEach((row, t) =>
      row.forEach((v, j) => worst = Math.max(worst, Math.abs(v - inBatch[t][j])))
    );
    assert.ok(worst <= 1e-4, `left-padded row vs alone: ${worst}`);
    for (
      const g of reference.greedy as {
        prompt_ids: number[];
        max_new_tokens: number;
        new_ids: number[];
      }[]
    ) {
      const [out] = await engine.generate(model, [g.prompt_ids], {
        maxNewTokens: g.max_new_tokens,
        eosTokenId: null,
      });
      assert.deepEqual(out, g.new_ids, "greedy with the KV cache");
    }
  } finally {
    await engine.dispose();
    model.dispose();
  }
});

Deno.test("Llama: save then load is bit-identical, also through loadPolicy and savePolicy", async () => {
  const model = await loadLlama(dir);
  const out = await Deno.makeTempDir({ prefix: "rlgf-llama-" });
  try {
    await saveLlama(model, out);
    const viaPolicy = await loadPolicy(out);
    assert.ok(viaPolicy instanceof LlamaLM, "loadPolicy picks the Llama family by model_type");
    await savePolicy(viaPolicy, `${out}/again`);
    viaPolicy.dispose();
    const again = await loadLlama(`${out}/again`);
    assert.deepEqual(again.config, model.config);
    const [a, b] = [await model.toHost(), await again.toHost()];
    assert.deepEqual([...a.keys()], [...b.keys()]);
    for (const [name, t] of a) assert.deepEqual(b.get(name)!.data, t.data, name);
    again.dispose();
  } finally {
    await Deno.remove(out, { recursive: true });
    model.dispose();
  }
});

/** The same math written out here on the host, in float64: logits of one row. */
function hostLogits(config: LlamaConfig, w: Map<string, HostTensor>, ids: number[]): number[][] {
  const { hiddenSize: d, numAttentionHeads: nh, numKeyValueHeads: nkv, headDim: hd } = config;
  const get = (name: string) => w.get(name)!;
  const linear = (x: number[], name: string) => {
    const W = get(`${name}.weight`), b = w.get(`${name}.bias`);
    const [out, inF] = W.shape;
    return Array.from({ length: out }, (_, o) => {
      let s = b ? b.data[o] : 0;
      for (let i = 0; i < inF; i++) s += x[i] * W.data[o * inF + i];
      return s;
    });
  };
  const norm = (x: number[], name: string) => {
    const ms = x.reduce((a, v) => a + v * v, 0) / x.length;
    return x.map((v, i) => (v / Math.sqrt(ms + config.rmsNormEps)) * get(`${name}.weight`).data[i]);
  };
  const inv = ropeInverseFrequencies(config);
  const rope = (x: number[], pos: number) => {
    const half = hd / 2;
    return x.map((v, i) => {
      const angle = pos * inv[i % half];
      const rotated = i < half ? -x[i + half] : x[i - half];
      return v * Math.cos(angle) + rotated * Math.sin(angle);
    });
  };
  const embed = get("model.embed_tokens.weight");
  let xs = ids.map((id) => Array.from(embed.data.subarray(id * d, (id + 1) * d)));
  for (let l = 0; l < config.numHiddenLayers; l++) {
    const p = `model.layers.${l}`;
    const h = xs.map((x) => norm(x, `${p}.input_layernorm`));
    const heads = (v: number[], n: number) =>
      Array.from({ length: n }, (_, j) => v.slice(j * hd, (j + 1) * hd));
    const q = h.map((x, t) => heads(linear(x, `${p}.self_attn.q_proj`), nh).map((v) => rope(v, t)));
    const k = h.map((x, t) =>
      heads(linear(x, `${p}.self_attn.k_proj`), nkv).map((v) => rope(v, t))
    );
    const v = h.map((x) => heads(linear(x, `${p}.self_attn.v_proj`), nkv));
    const attended = q.map((qt, t) =>
      qt.flatMap((qh, j) => {
        const kvh = Math.floor(j / (nh / nkv));
        const scores = k.slice(0, t + 1).map((ks) =>
          ks[kvh].reduce((a, x, i) => a + x * qh[i], 0) / Math.sqrt(hd)
        );
        const top = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - top));
        const z = e.reduce((a, b) => a + b, 0);
        return Array.from({ length: hd }, (_, i) =>
          e.reduce((a, w2, s) => a + (w2 / z) * v[s][kvh][i], 0));
      })
    );
    xs = xs.map((x, t) => {
      const a = linear(attended[t], `${p}.self_attn.o_proj`);
      const y = x.map((xv, i) => xv + a[i]);
      const m = norm(y, `${p}.post_attention_layernorm`);
      const gate = linear(m, `${p}.mlp.gate_proj`), up = linear(m, `${p}.mlp.up_proj`);
      const act = gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]);
      const down = linear(act, `${p}.mlp.down_proj`);
      return y.map((yv, i) => yv + down[i]);
    });
  }
  const head = config.tieWordEmbeddings ? "model.embed_tokens" : "lm_head";
  return xs.map((x) => linear(norm(x, "model.norm"), head));
}

Deno.test("a Qwen2-layout model (q/k/v biases, untied head, rope_theta 1e6) matches the math written out", async () => {
  const json = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
  const config = llamaConfigFromHF({
    ...json,
    model_type: "qwen2",
    tie_word_embeddings: false,
    rope_theta: 1e6,
    vocab_size: 300,
    bos_token_id: 0,
    eos_token_id: 0,
  }, "qwen2/config.json");
  assert.equal(config.attentionBias, true);
  const source = await readSafetensors(`${dir}/model.safetensors`);
  const shapes = llamaWeightShapes(config);
  let seed = 1;
  const noise = () => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5) * 0.6;
  const weights = new Map<string, HostTensor>();
  for (const [name, shape] of shapes) {
    const from = source.get(name);
    const size = shape.reduce((a, b) => a * b, 1);
    // the fixture's tensors where the shape still fits (the vocabulary is cut), new ones else
    const data = from && from.data.length >= size
      ? from.data.slice(0, size)
      : Float32Array.from({ length: size }, noise);
    weights.set(name, { shape, data });
  }
  const model = llamaFromHost(config, weights, "qwen2/model.safetensors");
  const engine = await OnnxLlamaEngine.create(config);
  try {
    const ids = [5, 17, 3, 250, 42, 9];
    const [got] = await engine.logits(model, [ids]);
    const want = hostLogits(config, weights, ids);
    let worst = 0;
    want.forEach((row, t) =>
      row.forEach((v, j) => worst = Math.max(worst, Math.abs(v - got[t][j])))
    );
    assert.ok(worst <= 2e-4, `Qwen2 layout vs the host math: ${worst}`);
    // a qwen2 checkpoint without its biases
    const bare = new Map([...weights].filter(([n]) => !n.endsWith("q_proj.bias")));
    assert.throws(
      () => llamaFromHost(config, bare, "qwen2/model.safetensors"),
      /qwen2\/model\.safetensors: Missing tensor "model\.layers\.0\.self_attn\.q_proj\.bias": a qwen2 checkpoint has q\/k\/v biases/,
    );
  } finally {
    await engine.dispose();
    model.dispose();
  }
});

Deno.test("bad Llama configs are one-line errors naming the file and field", () => {
  const base = {
    model_type: "llama",
    vocab_size: 10,
    hidden_size: 8,
    intermediate_size: 16,
    num_hidden_layers: 1,
    num_attention_heads: 4,
    eos_token_id: 0,
  };
  const bad = (patch: Record<string, unknown>, pattern: RegExp) =>
    assert.throws(() => llamaConfigFromHF({ ...base, ...patch }, "m/config.json"), pattern);
  bad(
    { num_key_value_heads: 3 },
    /m\/config\.json: Field "num_key_value_heads" \(3\) must divide "num_attention_heads" \(4\)/,
  );
  bad(
    { rope_scaling: { rope_type: "yarn", factor: 2 } },
    /Field "rope_scaling" has type "yarn"; supported: "llama3"/,
  );
  bad(
    { model_type: "gpt_neox" },
    /Field "model_type" is "gpt_neox", expected one of llama, qwen2, mistral/,
  );
  bad({ hidden_act: "gelu" }, /Field "hidden_act" is "gelu", expected "silu"/);
  bad(
    { bos_token_id: 0, eos_token_id: 10 },
    /Field "eos_token_id" \(10\) must be below "vocab_size" \(10\)/,
  );
  // Llama 3's rope scaling: low frequencies slowed by the factor, high ones kept
  const scaled = llamaConfigFromHF({
    ...base,
    head_dim: 64,
    rope_theta: 500000,
    rope_scaling: {
      rope_type: "llama3",
      factor: 8,
      low_freq_factor: 1,
      high_freq_factor: 4,
      original_max_position_embeddings: 8192,
    },
  }, "m/config.json");
  const plain = ropeInverseFrequencies({ ...scaled, ropeScaling: null });
  const inv = ropeInverseFrequencies(scaled);
  assert.equal(inv[0], plain[0]);
  assert.ok(Math.abs(inv[31] - plain[31] / 8) < 1e-12 * plain[31]);
});

Deno.test("Llama training graphs: log-probs as scored, gradients as finite differences", async () => {
  const model = await loadLlama(dir);
  const engine = await OnnxLlamaEngine.create(model.config);
  const policy = new OnnxLlamaLM(model, engine);
  try {
    const prompts = [[464, 2068], [7454]];
    const continuations = [[7586, 21831, 18045], [2402, 257, 11]];
    const scored = await policy.continuationLogProbs(prompts, continuations);
    const weights = tf.tensor2d([[0.3, -1, 0.5], [1.2, 0.7, -0.4]]);
    const loss = () =>
      tf.tidy(() => {
        const out = policy.forwardContinuation(prompts, continuations, { entropy: true });
        return tf.add(
          tf.sum(tf.mul(out.logProbs, weights)),
          tf.add(tf.sum(tf.mul(out.entropy!, 0.1)), tf.sum(tf.sin(out.hidden))),
        ) as tf.Scalar;
      });
    const trained = tf.tidy(() => policy.forwardContinuation(prompts, continuations).logProbs);
    const rows = trained.arraySync() as number[][];
    trained.dispose();
    scored.forEach((row, b) =>
      row.forEach((v, t) => assert.ok(Math.abs(rows[b][t] - v) < 1e-5, `log-prob ${b},${t}`))
    );
    const checked = [
      "model.layers.0.self_attn.q_proj.weight",
      "model.layers.0.self_attn.k_proj.weight",
      "model.layers.1.self_attn.v_proj.weight",
      "model.layers.1.self_attn.o_proj.weight",
      "model.layers.0.mlp.gate_proj.weight",
      "model.layers.1.mlp.down_proj.weight",
      "model.layers.0.input_layernorm.weight",
      "model.norm.weight",
      "model.embed_tokens.weight",
    ];
    const { value, grads } = tf.variableGrads(loss, checked.map((n) => model.weights.get(n)!));
    value.dispose();
    const eps = 1e-2;
    for (const name of checked) {
      const variable = model.weights.get(name)!;
      const grad = grads[variable.name].dataSync() as Float32Array;
      // the three entries with the largest gradients
      const top = Array.from(grad.keys()).sort((a, b) => Math.abs(grad[b]) - Math.abs(grad[a]))
        .slice(0, 3);
      for (const i of top) {
        const original = variable.dataSync().slice();
        const at = (delta: number) => {
          const data = original.slice();
          data[i] += delta;
          variable.assign(tf.tensor(data, variable.shape));
          const l = loss();
          const v = l.dataSync()[0];
          l.dispose();
          return v;
        };
        const numeric = (at(eps) - at(-eps)) / (2 * eps);
        variable.assign(tf.tensor(original, variable.shape));
        assert.ok(
          Math.abs(numeric - grad[i]) <= 2e-2 * Math.abs(grad[i]) + 2e-3,
          `${name}[${i}]: engine ${grad[i]}, finite differences ${numeric}`,
        );
      }
    }
    tf.dispose([weights, ...Object.values(grads)]);
  } finally {
    await engine.dispose();
    model.dispose();
  }
});

Deno.test("Llama LoRA: adapted logits equal the merged model's; PEFT's names; adapter gradients alone", async () => {
  const model = await loadLlama(dir);
  const adapters = createLoraAdapters(
    llamaWeightShapes(model.config),
    { r: 4, alpha: 8, dropout: 0, targetModules: ["q_proj", "v_proj", "gate_proj"] },
    new Rng(2),
    LLAMA_LORA_LAYOUT,
  );
  for (const { b } of adapters.pairs.values()) {
    tf.tidy(() => b.assign(tf.randomNormal(b.shape, 0, 0.2, "float32", 7)));
  }
  const adapted = model.withLora(adapters);
  const spec = loraGraphSpec(adapters);
  const engine = await OnnxLlamaEngine.create(model.config, { lora: spec });
  const plainEngine = await OnnxLlamaEngine.create(model.config);
  const out = await Deno.makeTempDir({ prefix: "rlgf-llama-lora-" });
  try {
    const merged = llamaFromHost(model.config, await adapted.mergedToHost(), "merged");
    const ids = [[464, 2068, 7586, 21831, 18045]];
    const [a] = await engine.logits(adapted, ids);
    const [m] = await plainEngine.logits(merged, ids);
    const [base] = await engine.logits(model, ids); // zero adapters: the base
    const [plain] = await plainEngine.logits(model, ids);
    let worst = 0, moved = 0, same = 0;
    a.forEach((row, t) =>
      row.forEach((v, j) => {
        worst = Math.max(worst, Math.abs(v - m[t][j]));
        moved = Math.max(moved, Math.abs(v - plain[t][j]));
        same = Math.max(same, Math.abs(base[t][j] - plain[t][j]));
      })
    );
    assert.ok(worst <= 1e-4, `adapted vs merged: ${worst}`);
    assert.ok(moved > 1e-2, "the adapters change the logits");
    assert.ok(same <= 1e-5, `a plain model on a LoRA engine: ${same}`);
    merged.dispose();
    await saveLoraAdapters(adapters, out, "/abs/tiny-llama");
    const keys = [...(await readSafetensors(`${out}/adapter_model.safetensors`)).keys()];
    assert.ok(keys.includes("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"));
    const again = await loadLoraAdapters(out, llamaWeightShapes(model.config), LLAMA_LORA_LAYOUT);
    assert.deepEqual([...again.adapters.pairs.keys()], [...adapters.pairs.keys()]);
    again.adapters.dispose();
    // the gradient step trains the adapters alone
    const policy = new OnnxLlamaLM(adapted, engine);
    const variables = policy.trainableVariables();
    assert.equal(variables.length, adapters.variables().length);
    const { value, grads } = tf.variableGrads(
      () =>
        tf.tidy(() =>
          tf.sum(policy.forwardContinuation([[464, 2068]], [[7586, 21831]]).logProbs) as tf.Scalar
        ),
      variables,
    );
    value.dispose();
    assert.ok(Object.values(grads).every((g) => g.dataSync().some((x) => x !== 0)));
    tf.dispose(Object.values(grads));
  } finally {
    await Deno.remove(out, { recursive: true });
    await engine.dispose();
    await plainEngine.dispose();
    adapted.dispose();
    model.dispose();
  }
});

/**
 * Issue 14: LoRA adapters as inputs of the engine's graphs — an adapted model's logits, scores
 * and greedy continuations on ONNX Runtime equal PyTorch's (tests/fixtures/tiny-gpt2-lora) and
 * tfjs's; the gradient step's backward gives the adapters' gradients (equal to tfjs's) and
 * nothing for the frozen base; a model without adapters on the same engine runs unchanged.
 */
import assert from "node:assert/strict";
import { assertGradientsMatch } from "../_test_asserts.ts";
import * as tf from "@tensorflow/tfjs-core";
import { Rng } from "../../core/prng.ts";
import { initBackend } from "../backend.ts";
import { loadCausalLM } from "../checkpoint.ts";
import { gpt2WeightShapes } from "../gpt2.ts";
import { createLoraAdapters, loadLoraAdapters } from "../lora.ts";
import { buildTrainingGraphs } from "./gpt2_graphs.ts";
import { loraGraphSpec, onEngine, OnnxAcceleratedLM, OnnxGpt2Engine } from "./mod.ts";

await initBackend("wasm");
const base = new URL("../../tests/fixtures/tiny-gpt2", import.meta.url).pathname;
const fixture = new URL("../../tests/fixtures/tiny-gpt2-lora", import.meta.url).pathname;
const reference = JSON.parse(await Deno.readTextFile(`${fixture}/reference.json`));

function maxDiff(a: number[][], b: number[][]): number {
  let worst = 0;
  a.forEach((row, i) => row.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - b[i][j])))));
  return worst;
}

Deno.test("engine with LoRA inputs: logits, scores and greedy decoding as PyTorch and tfjs", async () => {
  const model = await loadCausalLM(base);
  const { adapters } = await loadLoraAdapters(fixture, gpt2WeightShapes(model.config));
  const adapted = model.withLora(adapters);
  const engine = await OnnxGpt2Engine.create(model.config, {
    gradients: false,
    lora: loraGraphSpec(adapters),
  });
  try {
    const fast = onEngine(adapted, engine);
    assert.ok(fast instanceof OnnxAcceleratedLM, "an adapted model runs on an engine built for it");
    const ids: number[] = reference.input_ids;
    const [logits] = await fast.logits([ids]);
    const columns: number[] = reference.logit_columns;
    const atColumns = logits.map((row) => columns.map((c) => row[c]));
    assert.ok(maxDiff(atColumns, reference.logits_at_columns) <= 1e-4, "logits vs PyTorch");
    const [scored] = await fast.continuationLogProbs([ids.slice(0, 1)], [ids.slice(1)]);
    (reference.next_token_logprobs as number[]).forEach((v, t) =>
      assert.ok(Math.abs(scored[t] - v) <= 1e-4, `log-prob ${t}`)
    );
    const greedy = { maxNewTokens: 8, eosTokenId: null };
    assert.deepEqual(await fast.generate([ids], greedy), await adapted.generate([ids], greedy));
    // a model without adapters on the same engine: zero adapters, its own outputs
    const plain = await loadCausalLM(base);
    const [plainLogits] = await onEngine(plain, engine).logits([ids]);
    assert.ok(
      maxDiff(plainLogits, (await plain.logits([ids]))[0]) <= 1e-4,
      "plain on a LoRA engine",
    );
    plain.dispose();
    // an engine without LoRA inputs does not take the adapted model
    const bare = await OnnxGpt2Engine.create(model.config, { gradients: false });
    assert.equal(onEngine(adapted, bare), adapted);
    await bare.dispose();
  } finally {
    await engine.dispose();
    adapted.dispose();
    model.dispose();
  }
});

Deno.test("engine with LoRA inputs: the backward gives the adapters' gradients alone", async () => {
  const model = await loadCausalLM(base);
  const adapters = createLoraAdapters(gpt2WeightShapes(model.config), {
    r: 4,
    alpha: 8,
    dropout: 0,
    targetModules: ["c_attn", "c_fc"],
  }, new Rng(3));
  // B away from zero, so A's gradient is not zero either
  for (const { b } of adapters.pairs.values()) {
    tf.tidy(() => b.assign(tf.randomNormal(b.shape, 0, 0.2, "float32", 5)));
  }
  const adapted = model.withLora(adapters);
  const spec = loraGraphSpec(adapters);
  const graphs = buildTrainingGraphs(model.config, { head: "lm", lora: spec });
  assert.ok(graphs.gradients.every((name) => name?.startsWith("grad.lora_")), "no base gradient");
  assert.equal(graphs.gradients.length, 2 * 2 * 2); // 2 layers × (c_attn, c_fc) × (A, B)
  const engine = await OnnxGpt2Engine.create(model.config, { gradients: true, lora: spec });
  try {
    const fast = new OnnxAcceleratedLM(adapted, engine);
    const prompts = [[464, 2068], [7454]];
    const continuations = [[7586, 21831, 18045], [2402, 257]];
    const grads = (forward: typeof adapted.forwardContinuation) => {
      const { value, grads } = tf.variableGrads(() => {
        const out = forward(prompts, continuations, { entropy: true });
        const loss = tf.add(
          tf.sum(tf.mul(out.logProbs, tf.tensor2d([[0.3, -1, 0.5], [1.2, 0.7, 0]]))),
          tf.add(tf.sum(tf.mul(out.entropy!, 0.1)), tf.sum(tf.sin(out.hidden))),
        );
        return loss as tf.Scalar;
      }, adapted.trainableVariables());
      const out = adapted.trainableVariables().map((v) => grads[v.name].dataSync() as Float32Array);
      tf.dispose([value, ...Object.values(grads)]);
      return out;
    };
    const onTfjs = grads((p, c, o) => adapted.forwardContinuation(p, c, o));
    const onEngineGrads = grads((p, c, o) => fast.forwardContinuation(p, c, o));
    assertGradientsMatch(onTfjs, onEngineGrads);
  } finally {
    await engine.dispose();
    adapted.dispose();
    model.dispose();
  }
});

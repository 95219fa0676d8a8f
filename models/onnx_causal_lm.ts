/**
 * A causal LM run by ONNX Runtime through transformers.js, from a local folder
 * in the layout transformers.js loads (`config.json`, `onnx/model.onnx` with
 * past key/values). Used as a frozen guide: it generates and scores tokens but
 * computes no gradients. Decoding is our own loop over the raw session
 * ({@linkcode OrtDecodeSession}), so sampling draws from our seeded `Rng` and
 * picks tokens exactly as the tfjs model does.
 * @module
 */
import { AutoModelForCausalLM, env, Tensor } from "@huggingface/transformers";
import { InputError } from "../core/errors.ts";
import { generateWithSession } from "./generate.ts";
import {
  type LayerKV,
  OrtDecodeSession,
  type OrtStepGraph,
  type StepInputs,
} from "./ort_decode_session.ts";
import type { GenerateOptions, TokenGenerator } from "./types.ts";

interface OrtTensor {
  dims: number[];
  data: Float32Array;
}
interface OrtSession {
  run(feeds: Record<string, unknown>): Promise<Record<string, OrtTensor>>;
}

// transformers.js wraps onnxruntime tensors; the raw session wants the inner one.
const raw = (tensor: Tensor) =>
  (tensor as unknown as { ort_tensor?: unknown }).ort_tensor ?? tensor;

/** The transformers.js GPT-2 export as an {@linkcode OrtStepGraph}. */
class TransformersGraph implements OrtStepGraph {
  constructor(
    private session: OrtSession,
    readonly nLayer: number,
    readonly nHead: number,
    readonly headDim: number,
    readonly vocabSize: number,
    readonly padTokenId: number,
    readonly maxPositions: number,
  ) {}

  async run(inputs: StepInputs): Promise<{ logits: Float32Array; cache: LayerKV[] }> {
    const { rows, steps, past } = inputs;
    const feeds: Record<string, unknown> = {
      input_ids: raw(new Tensor("int64", inputs.ids, [rows, steps])),
      attention_mask: raw(
        new Tensor("int64", BigInt64Array.from(inputs.mask, BigInt), [rows, past + steps]),
      ),
      position_ids: raw(new Tensor("int64", inputs.positions, [rows, steps])),
    };
    const dims = [rows, this.nHead, past, this.headDim];
    inputs.cache.forEach(({ k, v }, l) => {
      feeds[`past_key_values.${l}.key`] = raw(new Tensor("float32", k, dims));
      feeds[`past_key_values.${l}.value`] = raw(new Tensor("float32", v, dims));
    });
    const out = await this.session.run(feeds);
    const vocab = this.vocabSize;
    const logits = new Float32Array(rows * vocab);
    for (let r = 0; r < rows; r++) {
      const offset = (r * steps + steps - 1) * vocab;
      logits.set(out.logits.data.subarray(offset, offset + vocab), r * vocab);
    }
    const cache = inputs.cache.map((_, l) => ({
      k: out[`present.${l}.key`].data,
      v: out[`present.${l}.value`].data,
    }));
    return { logits, cache };
  }
}

/** An ONNX causal LM (frozen): token generation and scoring, no gradients. */
export class OnnxCausalLM implements TokenGenerator {
  /**
   * Wraps a loaded graph; use {@linkcode loadOnnxCausalLM} to build one from a folder.
   *
   * @param dir the model folder it was loaded from
   * @param graph the ONNX session with its config
   * @param maxLength the longest prompt plus continuation the model accepts, in tokens
   */
  constructor(readonly dir: string, private graph: TransformersGraph, private maxLength: number) {}

  /** New tokens per row (see {@linkcode GenerateOptions}); sampling, greedy or beam search. */
  generate(inputIds: number[][], options: GenerateOptions): Promise<number[][]> {
    return generateWithSession(
      (rows) => new OrtDecodeSession(this.graph, rows),
      inputIds,
      options,
      {
        eosTokenId: this.graph.padTokenId,
        maxLength: this.maxLength,
      },
    );
  }

  /** log π(c_t | prompt, c_<t) per continuation token under the full softmax. */
  async continuationLogProbs(prompts: number[][], continuations: number[][]): Promise<number[][]> {
    const out: number[][] = [];
    // Row by row: the graph returns only the last position's logits per call.
    for (let b = 0; b < prompts.length; b++) {
      const session = new OrtDecodeSession(this.graph, 1);
      const row: number[] = [];
      let logits = await session.prefill([prompts[b]]);
      for (const token of continuations[b]) {
        row.push(logSoftmaxAt(logits, token));
        logits = await session.step(Int32Array.of(token));
      }
      out.push(row);
    }
    return out;
  }
}

function logSoftmaxAt(logits: Float32Array, token: number): number {
  let max = -Infinity;
  for (const x of logits) if (x > max) max = x;
  let sum = 0;
  for (const x of logits) sum += Math.exp(x - max);
  return logits[token] - max - Math.log(sum);
}

/** Loads an ONNX causal LM from a local folder (`config.json` + `onnx/model.onnx`), offline. */
export async function loadOnnxCausalLM(dir: string): Promise<OnnxCausalLM> {
  const file = `${dir}/config.json`;
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(await Deno.readTextFile(file));
  } catch (error) {
    throw new InputError(`cannot read config.json (${(error as Error).message})`, file);
  }
  const need = (field: string) => {
    const value = config[field];
    if (typeof value !== "number") {
      throw new InputError(`field "${field}" must be a number, got ${JSON.stringify(value)}`, file);
    }
    return value;
  };
  const nEmbd = need("n_embd");
  const nHead = need("n_head");
  const nLayer = need("n_layer");
  const vocabSize = need("vocab_size");
  const eos = need("eos_token_id");
  const maxLength = need("n_positions");
  try {
    await Deno.stat(`${dir}/onnx/model.onnx`);
  } catch {
    throw new InputError("missing ONNX graph; expected onnx/model.onnx", `${dir}/onnx/model.onnx`);
  }
  env.allowRemoteModels = false;
  const model = await AutoModelForCausalLM.from_pretrained(dir, { dtype: "fp32", device: "cpu" });
  const session = (model as unknown as { sessions: { model: OrtSession } }).sessions.model;
  const graph = new TransformersGraph(
    session,
    nLayer,
    nHead,
    nEmbd / nHead,
    vocabSize,
    eos,
    maxLength,
  );
  return new OnnxCausalLM(dir, graph, maxLength);
}

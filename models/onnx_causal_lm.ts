/**
 * A causal LM run by ONNX Runtime through transformers.js, from a local folder
 * in the layout transformers.js loads (`config.json`, `onnx/model.onnx` with
 * past key/values). Used as a frozen guide: it generates and scores tokens but
 * computes no gradients. Decoding is our own loop over the raw session, so
 * sampling draws from our seeded {@linkcode Rng} and picks tokens exactly as
 * the tfjs model does ({@linkcode chooseToken}).
 * @module
 */
import { AutoModelForCausalLM, env, Tensor } from "@huggingface/transformers";
import { InputError } from "../core/errors.ts";
import { chooseToken } from "./sampling.ts";
import type { GenerateOptions, TokenGenerator } from "./types.ts";

interface OrtTensor {
  dims: number[];
  data: Float32Array;
}
interface OrtSession {
  inputNames: string[];
  run(feeds: Record<string, unknown>): Promise<Record<string, OrtTensor>>;
}

interface OnnxShape {
  nLayer: number;
  nHead: number;
  headDim: number;
  vocabSize: number;
  eosTokenId: number;
}

function int64(values: number[], dims: number[]): unknown {
  const tensor = new Tensor("int64", BigInt64Array.from(values.map(BigInt)), dims);
  return (tensor as unknown as { ort_tensor?: unknown }).ort_tensor ?? tensor;
}

function float32(values: Float32Array, dims: number[]): unknown {
  const tensor = new Tensor("float32", values, dims);
  return (tensor as unknown as { ort_tensor?: unknown }).ort_tensor ?? tensor;
}

/** Left-pads rows with `pad`, returning ids, mask and position ids (cumsum(mask) - 1, clipped at 0). */
export function leftPad(rows: number[][], pad: number) {
  const width = Math.max(...rows.map((r) => r.length));
  const ids: number[] = [];
  const mask: number[] = [];
  const positions: number[] = [];
  for (const row of rows) {
    const padding = width - row.length;
    for (let t = 0; t < width; t++) {
      const real = t >= padding;
      ids.push(real ? row[t - padding] : pad);
      mask.push(real ? 1 : 0);
      positions.push(real ? t - padding : 0);
    }
  }
  return { ids, mask, positions, width };
}

/** An ONNX causal LM (frozen): token generation and scoring, no gradients. */
export class OnnxCausalLM implements TokenGenerator {
  constructor(readonly dir: string, private session: OrtSession, readonly shape: OnnxShape) {}

  private async forward(
    ids: number[],
    mask: number[],
    positions: number[],
    batch: number,
    past: Record<string, OrtTensor> | null,
  ): Promise<Record<string, OrtTensor>> {
    const steps = ids.length / batch;
    const { nLayer, nHead, headDim } = this.shape;
    const feeds: Record<string, unknown> = {
      input_ids: int64(ids, [batch, steps]),
      attention_mask: int64(mask, [batch, mask.length / batch]),
      position_ids: int64(positions, [batch, steps]),
    };
    for (let l = 0; l < nLayer; l++) {
      for (const kind of ["key", "value"]) {
        const previous = past?.[`present.${l}.${kind}`];
        feeds[`past_key_values.${l}.${kind}`] = previous
          ? float32(previous.data, previous.dims)
          : float32(new Float32Array(0), [batch, nHead, 0, headDim]);
      }
    }
    return await this.session.run(feeds);
  }

  /** New tokens per row, up to and including the first EOS (see {@linkcode GenerateOptions}). */
  async generate(inputIds: number[][], options: GenerateOptions): Promise<number[][]> {
    const batch = inputIds.length;
    if (batch === 0) return [];
    const eos = options.eosTokenId === undefined ? this.shape.eosTokenId : options.eosTokenId;
    const limits = Array.isArray(options.maxNewTokens)
      ? options.maxNewTokens
      : new Array(batch).fill(options.maxNewTokens);
    if ((options.numBeams ?? 1) > 1) {
      throw new RangeError("OnnxCausalLM.generate() supports sampling and greedy only, not beams");
    }
    const { ids, mask, positions, width } = leftPad(inputIds, this.shape.eosTokenId);
    const vocab = this.shape.vocabSize;
    const outputs: number[][] = inputIds.map(() => []);
    const done = limits.map((limit) => limit <= 0);
    let fullMask = mask;
    let nextPositions = inputIds.map((row) => Math.max(row.length - 1, 0));
    let result = await this.forward(ids, mask, positions, batch, null);
    let step = width;
    while (!done.every(Boolean)) {
      const logits = result.logits.data;
      const steps = result.logits.dims[1];
      const chosen: number[] = [];
      for (let b = 0; b < batch; b++) {
        if (done[b]) {
          chosen.push(this.shape.eosTokenId);
          continue;
        }
        const offset = (b * steps + steps - 1) * vocab;
        const row = logits.subarray(offset, offset + vocab);
        const suppress = eos !== null && outputs[b].length < (options.minNewTokens ?? 0)
          ? [eos]
          : [];
        const token = chooseToken(row, {
          ...options,
          doSample: options.doSample ?? false,
          suppress,
        }, options.rng);
        outputs[b].push(token);
        if (token === eos || outputs[b].length >= limits[b]) done[b] = true;
        chosen.push(token);
      }
      if (done.every(Boolean)) break;
      nextPositions = nextPositions.map((p) => p + 1);
      const grown: number[] = [];
      for (let b = 0; b < batch; b++) {
        grown.push(...fullMask.slice(b * step, (b + 1) * step), 1);
      }
      fullMask = grown;
      step += 1;
      result = await this.forward(chosen, fullMask, nextPositions, batch, result);
    }
    return outputs;
  }

  /** log π(c_t | prompt, c_<t) per continuation token under the full softmax. */
  async continuationLogProbs(prompts: number[][], continuations: number[][]): Promise<number[][]> {
    const batch = prompts.length;
    if (batch === 0) return [];
    const rows = prompts.map((p, b) => [...p, ...continuations[b]]);
    const { ids, mask, positions, width } = leftPad(rows, this.shape.eosTokenId);
    const result = await this.forward(ids, mask, positions, batch, null);
    const logits = result.logits.data;
    const vocab = this.shape.vocabSize;
    return continuations.map((continuation, b) => {
      const start = width - continuation.length; // position of c_0 in the padded row
      return continuation.map((token, t) => {
        const offset = (b * width + start + t - 1) * vocab;
        let max = -Infinity;
        for (let v = 0; v < vocab; v++) max = Math.max(max, logits[offset + v]);
        let sum = 0;
        for (let v = 0; v < vocab; v++) sum += Math.exp(logits[offset + v] - max);
        return logits[offset + token] - max - Math.log(sum);
      });
    });
  }
}

/** Loads an ONNX causal LM from a local folder (`config.json` + `onnx/model.onnx`), offline. */
export async function loadOnnxCausalLM(dir: string): Promise<OnnxCausalLM> {
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
  } catch (error) {
    throw new InputError(
      `cannot read config.json (${(error as Error).message})`,
      `${dir}/config.json`,
    );
  }
  const need = (field: string) => {
    const value = config[field];
    if (typeof value !== "number") {
      throw new InputError(
        `field "${field}" must be a number, got ${JSON.stringify(value)}`,
        `${dir}/config.json`,
      );
    }
    return value;
  };
  const nEmbd = need("n_embd");
  const nHead = need("n_head");
  const shape: OnnxShape = {
    nLayer: need("n_layer"),
    nHead,
    headDim: nEmbd / nHead,
    vocabSize: need("vocab_size"),
    eosTokenId: need("eos_token_id"),
  };
  try {
    await Deno.stat(`${dir}/onnx/model.onnx`);
  } catch {
    throw new InputError("missing ONNX graph; expected onnx/model.onnx", `${dir}/onnx/model.onnx`);
  }
  env.allowRemoteModels = false;
  const model = await AutoModelForCausalLM.from_pretrained(dir, { dtype: "fp32", device: "cpu" });
  const session = (model as unknown as { sessions: { model: OrtSession } }).sessions.model;
  return new OnnxCausalLM(dir, session, shape);
}

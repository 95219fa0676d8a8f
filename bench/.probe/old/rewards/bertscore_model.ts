/**
 * BERTScore over token embeddings from a local transformers.js feature-extraction model.
 * @module
 */

import { AutoModel, AutoTokenizer, env } from "@huggingface/transformers";
import { InputError } from "../core/errors.ts";
import { bertScoreIdf, type BertScoreValues, greedyCosineMatch } from "./bertscore.ts";

/** Options of {@linkcode loadBertScorer}. */
export interface BertScorerOptions {
  /** A local model folder: config.json, tokenizer files and onnx/model.onnx. */
  modelDir: string;
  /** Weight tokens by idf computed over the scored references (bert_score's `idf=True`). @default false */
  idf?: boolean;
  /** Token ids weighted 0 under idf, like bert_score's [CLS]/[SEP]. @default [] */
  specialTokenIds?: number[];
}

/** BERTScore of a set: per-item values, each the maximum over the item's references. */
export interface BertScoreResult {
  /** Precision of each candidate: the maximum over its references. */
  precision: number[];
  /** Recall of each candidate: the maximum over its references. */
  recall: number[];
  /** F1 of each candidate: the maximum over its references. */
  f1: number[];
}

/** Token ids and last-layer embeddings of one sentence. */
export interface SentenceEmbedding {
  /** Token ids from the model's tokenizer. */
  ids: number[];
  /** One vector per token: the model's last hidden state. */
  embeddings: Float32Array[];
}

/** A loaded BERTScore model. */
export interface BertScorer {
  /** Token ids and embeddings of one sentence, encoded alone (no padding). */
  embed(text: string): Promise<SentenceEmbedding>;
  /** BERTScore of each candidate: P, R and F1 each the maximum over its references (as bert_score). */
  score(candidates: string[], references: string[][]): Promise<BertScoreResult>;
  /** Frees the ONNX session. */
  dispose(): Promise<void>;
}

interface TokenizerLike {
  (text: string): Promise<Record<string, unknown>> | Record<string, unknown>;
  encode(text: string): number[];
}

interface ModelLike {
  (
    inputs: Record<string, unknown>,
  ): Promise<{ last_hidden_state: { dims: number[]; data: Float32Array } }>;
  dispose(): Promise<unknown>;
}

/**
 * Loads a local feature-extraction model (never downloading: remote models are
 * switched off) and returns a BERTScore scorer over its last hidden states.
 * Sentences are encoded one at a time, so no padding enters the embeddings;
 * an empty sentence has no tokens and scores 0. Multiple references: P, R and
 * F1 are each the maximum over the references, as the bert_score package takes
 * `max(dim=0)` over a candidate's reference group.
 *
 * transformers.js keeps its `env` global: the model folder's parent is set as
 * `env.localModelPath` while loading and restored afterwards.
 *
 * @param options the model folder and idf weighting
 * @returns a scorer; call `dispose()` when done
 */
export async function loadBertScorer(options: BertScorerOptions): Promise<BertScorer> {
  const dir = options.modelDir.replace(/\/+$/, "");
  const slash = dir.lastIndexOf("/");
  const parent = slash >= 0 ? dir.slice(0, slash + 1) : "./";
  const name = dir.slice(slash + 1);
  try {
    await Deno.stat(`${dir}/config.json`);
  } catch {
    throw new InputError("Expected a model folder with config.json", dir);
  }
  const saved = { allowRemoteModels: env.allowRemoteModels, localModelPath: env.localModelPath };
  let tokenizer: TokenizerLike;
  let model: ModelLike;
  try {
    env.allowRemoteModels = false;
    env.localModelPath = parent;
    tokenizer = await AutoTokenizer.from_pretrained(name) as unknown as TokenizerLike;
    model = await AutoModel.from_pretrained(name, { dtype: "fp32" }) as unknown as ModelLike;
  } finally {
    env.allowRemoteModels = saved.allowRemoteModels;
    env.localModelPath = saved.localModelPath;
  }

  const embed = async (text: string): Promise<SentenceEmbedding> => {
    const ids = tokenizer.encode(text);
    if (ids.length === 0) return { ids, embeddings: [] };
    const out = await model(await tokenizer(text));
    const [, t, h] = out.last_hidden_state.dims; // [1, T, H]
    const data = out.last_hidden_state.data;
    const embeddings = Array.from({ length: t }, (_, i) => data.slice(i * h, (i + 1) * h));
    return { ids, embeddings };
  };

  const score = async (candidates: string[], references: string[][]): Promise<BertScoreResult> => {
    if (candidates.length !== references.length) {
      throw new InputError(
        `Expected one reference list per candidate, got ${candidates.length} and ${references.length}`,
        "bertScore",
      );
    }
    const cache = new Map<string, SentenceEmbedding>();
    const get = async (s: string) => {
      let e = cache.get(s);
      if (!e) cache.set(s, e = await embed(s));
      return e;
    };
    const refEmb = await Promise.all(references.flat().map(get));
    const idf = options.idf
      ? bertScoreIdf(refEmb.map((e) => e.ids), options.specialTokenIds ?? [])
      : undefined;
    const result: BertScoreResult = { precision: [], recall: [], f1: [] };
    for (let i = 0; i < candidates.length; i++) {
      if (references[i].length === 0) {
        throw new InputError("Expected at least one reference", `bertScore: references[${i}]`);
      }
      const c = await get(candidates[i]);
      // bert_score keeps the maximum of P, of R and of F1 over the references, each separately.
      const best = { precision: -Infinity, recall: -Infinity, f1: -Infinity };
      for (const ref of references[i]) {
        const r = await get(ref);
        const v: BertScoreValues = c.ids.length === 0 || r.ids.length === 0
          ? { precision: 0, recall: 0, f1: 0 }
          : greedyCosineMatch(
            c.embeddings,
            r.embeddings,
            idf && {
              candidate: c.ids.map(idf),
              reference: r.ids.map(idf),
            },
          );
        best.precision = Math.max(best.precision, v.precision);
        best.recall = Math.max(best.recall, v.recall);
        best.f1 = Math.max(best.f1, v.f1);
      }
      result.precision.push(best.precision);
      result.recall.push(best.recall);
      result.f1.push(best.f1);
    }
    return result;
  };

  return { embed, score, dispose: async () => void await model.dispose() };
}

/**
 * Sentiment reward from any Hugging Face text-classification model exported to ONNX, read from a
 * local folder (config.json, tokenizer files, onnx/model.onnx) through transformers.js, offline.
 * tril's IMDB reward is `lvwerra/distilbert-imdb` with label index 1 (cfgs/task/imdb.yaml).
 * @module
 */
import { env, pipeline, type TextClassificationPipeline } from "@huggingface/transformers";
import { InputError } from "../core/errors.ts";
import type { RewardFunction } from "./types.ts";

/** Options of {@linkcode OnnxSentimentModel.load}. */
export interface OnnxSentimentOptions {
  /**
   * The label whose probability is returned. By default the one label of config.json's `id2label`
   * that contains "pos" (any case), else id 1 of a two-label `LABEL_0`/`LABEL_1` model (tril's
   * `label_ix: 1`).
   */
  positiveLabel?: string;
  /** Texts per ONNX call. @default 32 */
  batchSize?: number;
  /** Weights file variant (`fp32` reads onnx/model.onnx). @default "fp32" */
  dtype?: "fp32" | "fp16" | "q8" | "int8" | "uint8" | "q4";
}

/** A loaded ONNX text classifier giving P(positive). */
export class OnnxSentimentModel {
  private constructor(
    private readonly classifier: TextClassificationPipeline,
    /** The label read as "positive". */
    readonly positiveLabel: string,
    private readonly batchSize: number,
  ) {}

  /**
   * Loads a model folder without any network access.
   * @param dir the folder with config.json, tokenizer.json and onnx/model.onnx
   * @param options label choice, batch size and weights variant
   * @returns the model
   */
  static async load(dir: string, options: OnnxSentimentOptions = {}): Promise<OnnxSentimentModel> {
    const path = dir.replace(/\/+$/, "");
    let config: { id2label?: Record<string, string> };
    try {
      config = JSON.parse(await Deno.readTextFile(`${path}/config.json`));
    } catch (error) {
      throw new InputError(
        `Cannot read config.json of a text-classification model (${(error as Error).message})`,
        path,
      );
    }
    const positiveLabel = findPositiveLabel(config.id2label ?? {}, options.positiveLabel, path);
    const slash = path.lastIndexOf("/");
    const parent = slash >= 0 ? path.slice(0, slash + 1) : "./";
    const name = path.slice(slash + 1);
    // transformers.js resolves local models as localModelPath + name; restore its globals after.
    const saved = {
      remote: env.allowRemoteModels,
      local: env.allowLocalModels,
      root: env.localModelPath,
    };
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    env.localModelPath = parent;
    let classifier: TextClassificationPipeline;
    try {
      classifier = await pipeline("text-classification", name, { dtype: options.dtype ?? "fp32" });
    } catch (error) {
      throw new InputError(`Cannot load the ONNX classifier (${(error as Error).message})`, path);
    } finally {
      env.allowRemoteModels = saved.remote;
      env.allowLocalModels = saved.local;
      env.localModelPath = saved.root;
    }
    return new OnnxSentimentModel(classifier, positiveLabel, options.batchSize ?? 32);
  }

  /**
   * P(positive) of each text (texts longer than the model's maximum are truncated by its tokenizer).
   * @param texts the texts to classify
   * @returns one probability per text
   */
  async probabilities(texts: string[]): Promise<number[]> {
    const out: number[] = [];
    for (let start = 0; start < texts.length; start += this.batchSize) {
      const batch = texts.slice(start, start + this.batchSize);
      type Scored = { label: string; score: number };
      const raw = await this.classifier(batch, { top_k: null }) as unknown as Scored[] | Scored[][];
      // One input may come back as a flat list of labels rather than a list of lists.
      const rows = Array.isArray(raw[0]) ? raw as Scored[][] : [raw as Scored[]];
      for (const labels of rows) {
        const hit = labels.find((l) => l.label === this.positiveLabel);
        if (!hit) throw new Error(`Classifier returned no "${this.positiveLabel}" score`);
        out.push(hit.score);
      }
    }
    return out;
  }

  /**
   * The IMDB reward: P(positive) of prompt + generation, per row.
   * @returns a RewardFunction
   */
  asReward(): RewardFunction {
    return (batch) => this.probabilities(batch.prompts.map((p, i) => p + batch.generations[i]));
  }

  /** Frees the ONNX session. */
  async dispose(): Promise<void> {
    await this.classifier.dispose();
  }
}

/**
 * Picks the positive label of a classifier from its `id2label`.
 * @param id2label config.json's id → label map
 * @param wanted an explicit label, checked to exist
 * @param where the model folder, for errors
 * @returns the label
 */
export function findPositiveLabel(
  id2label: Record<string, string>,
  wanted: string | undefined,
  where: string,
): string {
  const labels = Object.values(id2label);
  if (wanted !== undefined) {
    if (!labels.includes(wanted)) {
      throw new InputError(
        `Label "${wanted}" is not in config.json id2label (${labels.join(", ")})`,
        where,
      );
    }
    return wanted;
  }
  const positive = labels.filter((l) => /pos/i.test(l));
  if (positive.length === 1) return positive[0];
  if (labels.length === 2 && id2label["1"] === "LABEL_1") return "LABEL_1";
  throw new InputError(
    `Cannot tell the positive label from config.json id2label (${labels.join(", ") || "none"}): ` +
      `pass positiveLabel`,
    where,
  );
}

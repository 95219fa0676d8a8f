/**
 * Our own sentiment classifier: tf-idf over hashed word unigrams and bigrams, then L2-regularised
 * logistic regression fitted by L-BFGS, in plain TypeScript. It gives the IMDB reward
 * P(positive | prompt + generation) without any model download.
 *
 * Features (fixed by the file's `featureVersion`): lowercase, HTML line breaks removed, tokens are
 * runs of letters/digits (with inner apostrophes) plus `!` and `?`; each unigram and adjacent
 * bigram is hashed (FNV-1a, then a finaliser) into `buckets` slots; tf = 1 + ln(count), idf =
 * ln((1 + N) / (1 + df)) + 1 over the training texts (slots with df < `minDf` dropped), rows
 * L2-normalised, as scikit-learn's `TfidfVectorizer(sublinear_tf=True)`.
 * @module
 */
import { writeFileAtomic } from "../core/atomic.ts";
import { InputError } from "../core/errors.ts";
import { Rng } from "../core/prng.ts";
import { minimizeLbfgs } from "./_lbfgs.ts";
import type { RewardFunction } from "./types.ts";

const MAGIC = "RLGFSENT";
const FEATURE_VERSION = 1;

/** Options of {@linkcode trainSentimentClassifier}. */
export interface SentimentTrainOptions {
  /** Hash slots (a power of two). @default 2 ** 20 */
  buckets?: number;
  /** Slots seen in fewer training texts are dropped. @default 2 */
  minDf?: number;
  /**
   * L2 strengths λ to try (objective: mean log-loss + λ/2·‖w‖²). With more than one, each is fitted
   * on a seeded 90 % of the texts and scored on the other 10 %; the best is refitted on all.
   * @default [1e-5, 3e-6, 1e-6]
   */
  lambdas?: number[];
  /** L-BFGS iteration limit per fit. @default 300 */
  maxIterations?: number;
  /** Seed of the validation split. @default 42 */
  seed?: number;
  /** Progress messages (the library never prints). */
  onProgress?: (message: string) => void;
}

/** The saved state of a classifier. */
interface Header {
  featureVersion: number;
  buckets: number;
  minDf: number;
  lambda: number;
  bias: number;
  trainedOn: number;
}

/** A trained tf-idf logistic-regression sentiment classifier. */
export class SentimentClassifier {
  /**
   * @param header the hyperparameters and bias
   * @param idf idf per hash slot (0 = dropped)
   * @param weights the weight per hash slot
   */
  private constructor(
    private readonly header: Header,
    private readonly idf: Float32Array,
    private readonly weights: Float32Array,
  ) {}

  /** The L2 strength the model was fitted with. */
  get lambda(): number {
    return this.header.lambda;
  }

  /**
   * P(positive) of each text.
   * @param texts the texts to score
   * @returns one probability in (0, 1) per text
   */
  predict(texts: string[]): number[] {
    return texts.map((text) => {
      const row = featurize(text, this.idf);
      let z = this.header.bias;
      for (let k = 0; k < row.index.length; k++) z += this.weights[row.index[k]] * row.value[k];
      return sigmoid(z);
    });
  }

  /**
   * The IMDB reward: P(positive) of prompt + generation, per row.
   * @returns a RewardFunction
   */
  asReward(): RewardFunction {
    return (batch) =>
      Promise.resolve(this.predict(batch.prompts.map((p, i) => p + batch.generations[i])));
  }

  /**
   * Saves the model as one binary file, atomically: `RLGFSENT`, a uint32 header length, the JSON
   * header, zero padding to 4 bytes, then idf and weights as little-endian float32.
   * @param path the file to write
   */
  async save(path: string): Promise<void> {
    const header = new TextEncoder().encode(JSON.stringify(this.header));
    const headerEnd = 12 + header.length;
    const dataStart = Math.ceil(headerEnd / 4) * 4;
    const bytes = new Uint8Array(dataStart + 8 * this.header.buckets);
    bytes.set(new TextEncoder().encode(MAGIC), 0);
    new DataView(bytes.buffer).setUint32(8, header.length, true);
    bytes.set(header, 12);
    const floats = new Float32Array(bytes.buffer, dataStart, 2 * this.header.buckets);
    floats.set(this.idf, 0);
    floats.set(this.weights, this.header.buckets);
    await writeFileAtomic(path, bytes);
  }

  /**
   * Loads a file written by {@linkcode SentimentClassifier.save}.
   * @param path the model file
   * @returns the classifier
   */
  static async load(path: string): Promise<SentimentClassifier> {
    const bytes = await Deno.readFile(path);
    if (bytes.length < 12 || new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) {
      throw new InputError(`Not a sentiment classifier file (expected magic ${MAGIC})`, path);
    }
    const headerLength = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + headerLength)));
    if (header.featureVersion !== FEATURE_VERSION) {
      throw new InputError(
        `Field "featureVersion" must be ${FEATURE_VERSION}, got ${header.featureVersion}`,
        path,
      );
    }
    const dataStart = Math.ceil((12 + headerLength) / 4) * 4;
    if (bytes.length !== dataStart + 8 * header.buckets) {
      throw new InputError(
        `Expected ${
          dataStart + 8 * header.buckets
        } bytes for ${header.buckets} buckets, got ${bytes.length}`,
        path,
      );
    }
    const copy = bytes.slice(dataStart);
    const floats = new Float32Array(copy.buffer, 0, 2 * header.buckets);
    return new SentimentClassifier(
      header,
      floats.slice(0, header.buckets),
      floats.slice(header.buckets),
    );
  }

  /** @internal Builds a classifier from trained parts. */
  static fromParts(header: Header, idf: Float32Array, weights: Float32Array): SentimentClassifier {
    return new SentimentClassifier(header, idf, weights);
  }
}

/**
 * Fits a classifier on labelled texts.
 * @param texts the training texts
 * @param labels 1 = positive, 0 = negative, one per text
 * @param options hashing, regularisation, seed and progress
 * @returns the trained classifier
 */
export function trainSentimentClassifier(
  texts: string[],
  labels: number[],
  options: SentimentTrainOptions = {},
): SentimentClassifier {
  const buckets = options.buckets ?? 2 ** 20;
  const minDf = options.minDf ?? 2;
  const lambdas = options.lambdas ?? [1e-5, 3e-6, 1e-6];
  const maxIterations = options.maxIterations ?? 300;
  const progress = options.onProgress ?? (() => {});
  if (!Number.isInteger(Math.log2(buckets))) {
    throw new RangeError(`Buckets must be a power of two, got ${buckets}`);
  }
  if (texts.length !== labels.length || texts.length === 0) {
    throw new RangeError(
      `Need as many labels as texts (> 0), got ${labels.length}/${texts.length}`,
    );
  }
  const hashed = texts.map((t) => hashCounts(t, buckets - 1));
  const settings = { buckets, minDf, maxIterations, progress };
  let lambda = lambdas[0];
  if (lambdas.length > 1) {
    const order = new Rng(options.seed ?? 42).child("sentiment-validation")
      .shuffle([...texts.keys()]);
    const cut = Math.floor(order.length * 0.9);
    const valRows = order.slice(cut);
    let best = -1;
    // Strongest regularisation first: each fit warm-starts the next, weaker one.
    const path = [...lambdas].sort((a, b) => b - a);
    for (const model of fitPath(hashed, labels, order.slice(0, cut), path, settings)) {
      const p = model.predict(valRows.map((i) => texts[i]));
      const right = p.filter((pi, k) => (pi >= 0.5 ? 1 : 0) === labels[valRows[k]]).length;
      const accuracy = right / valRows.length;
      progress(`lambda ${model.lambda}: validation accuracy ${(100 * accuracy).toFixed(2)} %`);
      if (accuracy > best) [best, lambda] = [accuracy, model.lambda];
    }
  }
  progress(`Fitting on all ${texts.length} texts with lambda ${lambda}`);
  return [...fitPath(hashed, labels, [...texts.keys()], [lambda], settings)][0];
}

interface FitSettings {
  buckets: number;
  minDf: number;
  maxIterations: number;
  progress: (message: string) => void;
}

/** Fits one model per λ on the given rows, each starting from the previous solution. */
function* fitPath(
  hashed: Hashed[],
  labels: number[],
  rows: number[],
  lambdas: number[],
  { buckets, minDf, maxIterations, progress }: FitSettings,
): Generator<SentimentClassifier> {
  const n = rows.length;
  const df = new Uint32Array(buckets);
  for (const r of rows) for (const slot of hashed[r].slots) df[slot]++;
  const idf = new Float32Array(buckets);
  // Only slots kept by minDf get a parameter: fewer dimensions for L-BFGS's vector work.
  const slots: number[] = [];
  const column = new Int32Array(buckets).fill(-1);
  for (let j = 0; j < buckets; j++) {
    if (df[j] >= minDf) {
      idf[j] = Math.log((1 + n) / (1 + df[j])) + 1;
      column[j] = slots.length;
      slots.push(j);
    }
  }
  const dim = slots.length;
  // CSR rows of tf-idf values over the kept columns.
  const rowsWeighed = rows.map((r) => weigh(hashed[r], idf));
  const offsets = new Uint32Array(n + 1);
  for (let k = 0; k < n; k++) offsets[k + 1] = offsets[k] + rowsWeighed[k].index.length;
  const index = new Uint32Array(offsets[n]);
  const value = new Float32Array(offsets[n]);
  const y = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const row = rowsWeighed[k];
    for (let p = 0; p < row.index.length; p++) {
      index[offsets[k] + p] = column[row.index[p]];
      value[offsets[k] + p] = row.value[p];
    }
    y[k] = labels[rows[k]] === 1 ? 1 : -1;
  }
  progress(`  ${n} texts, ${dim} of ${buckets} hash slots kept (df >= ${minDf})`);
  let x: Float64Array = new Float64Array(dim + 1);
  for (const lambda of lambdas) {
    // x = [w (dim), b]; f = mean log(1 + exp(-y z)) + λ/2 ‖w‖².
    const objective = (x: Float64Array, grad: Float64Array): number => {
      let loss = 0;
      grad.fill(0);
      for (let k = 0; k < n; k++) {
        let z = x[dim];
        for (let p = offsets[k]; p < offsets[k + 1]; p++) z += x[index[p]] * value[p];
        const margin = y[k] * z;
        loss += margin > 0 ? Math.log1p(Math.exp(-margin)) : -margin + Math.log1p(Math.exp(margin));
        const coef = -y[k] * sigmoid(-margin) / n;
        for (let p = offsets[k]; p < offsets[k + 1]; p++) grad[index[p]] += coef * value[p];
        grad[dim] += coef;
      }
      let reg = 0;
      for (let j = 0; j < dim; j++) {
        reg += x[j] * x[j];
        grad[j] += lambda * x[j];
      }
      return loss / n + 0.5 * lambda * reg;
    };
    const result = minimizeLbfgs(objective, x, {
      maxIterations,
      gradTol: 1e-7,
      relTol: 1e-6,
      onIteration: (i, f) => {
        if (i % 25 === 0) progress(`  lambda ${lambda} iteration ${i}: objective ${f.toFixed(6)}`);
      },
    });
    progress(
      `  lambda ${lambda}: ${result.iterations} iterations, objective ${result.f.toFixed(6)}`,
    );
    x = result.x;
    const weights = new Float32Array(buckets);
    for (let c = 0; c < dim; c++) weights[slots[c]] = x[c];
    const header: Header = {
      featureVersion: FEATURE_VERSION,
      buckets,
      minDf,
      lambda,
      bias: x[dim],
      trainedOn: n,
    };
    yield SentimentClassifier.fromParts(header, idf, weights);
  }
}

/** Splits text into the classifier's tokens (exported for tests). */
export function sentimentTokens(text: string): string[] {
  return text.toLowerCase().replace(/<br\s*\/?>/g, " ").match(
    /[\p{L}\p{N}]+(?:'[\p{L}\p{N}]+)*|[!?]/gu,
  ) ??
    [];
}

function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** murmur3's 32-bit finaliser: spreads FNV's low bits before masking. */
function mix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** A text's hashed n-gram counts, as parallel arrays. */
interface Hashed {
  slots: Uint32Array;
  counts: Float32Array;
}

function hashCounts(text: string, mask: number): Hashed {
  const counts = new Map<number, number>();
  const tokens = sentimentTokens(text);
  let previous = -1;
  for (const token of tokens) {
    const h = hashString(token);
    const uni = mix(h) & mask;
    counts.set(uni, (counts.get(uni) ?? 0) + 1);
    if (previous !== -1) {
      const bi = mix(Math.imul(previous, 0x9e3779b1) ^ h ^ 0x5bd1e995) & mask;
      counts.set(bi, (counts.get(bi) ?? 0) + 1);
    }
    previous = h;
  }
  return { slots: Uint32Array.from(counts.keys()), counts: Float32Array.from(counts.values()) };
}

function weigh(hashed: Hashed, idf: Float32Array) {
  const index: number[] = [];
  const value: number[] = [];
  let norm = 0;
  for (let k = 0; k < hashed.slots.length; k++) {
    const slot = hashed.slots[k];
    if (idf[slot] === 0) continue;
    const v = (1 + Math.log(hashed.counts[k])) * idf[slot];
    index.push(slot);
    value.push(v);
    norm += v * v;
  }
  const inv = norm > 0 ? 1 / Math.sqrt(norm) : 0;
  return { index, value: value.map((v) => v * inv) };
}

function featurize(text: string, idf: Float32Array) {
  return weigh(hashCounts(text, idf.length - 1), idf);
}

function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

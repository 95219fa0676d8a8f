/**
 * The incremental-decoding contract shared by sampling and beam search: a
 * batch of rows whose keys and values are cached, advanced one token at a time.
 * @module
 */

/** A batch of rows being decoded with a KV cache (owns tensors until disposed). */
export interface DecodeSession {
  /** Rows in the batch. */
  readonly rows: number;
  /** Vocabulary size: each row's logits have this many entries. */
  readonly vocabSize: number;
  /**
   * Runs the prompts (left-padded internally) and returns the next-token
   * logits, row-major [rows * vocabSize]. A seq2seq session also starts each
   * decoder row with its prompt's prefix (decoder-only sessions never get
   * one: their prefixes are joined to the prompts before).
   */
  prefill(prompts: number[][], prefixes?: number[][]): Promise<Float32Array>;
  /**
   * Appends one token per row and returns the next logits. With `parents`, row
   * r first continues from the cached state of row `parents[r]` (beam search).
   */
  step(tokens: Int32Array, parents?: Int32Array): Promise<Float32Array>;
  /**
   * softmax(logits / temperature) of every row, computed where the session runs (a vectorised
   * kernel): sampling from the whole vocabulary then draws from these instead of exponentiating
   * each row in JavaScript. Sessions without it sample from the logits.
   */
  probabilities?(logits: Float32Array, temperature: number): Promise<Float32Array>;
  /**
   * The k largest logits of every row, most likely first (ties: the lower id first), row-major
   * [rows * k], computed where the session runs: top-k sampling then picks among them instead of
   * scanning each row in JavaScript.
   */
  topK?(logits: Float32Array, k: number): Promise<{ values: Float32Array; indices: BigInt64Array }>;
  /**
   * Whole-vocabulary sampling inside the session's step (prefill and step return each row's
   * drawn token, not its logits), drawing as `sampleProbabilities` does from the same uniforms:
   * no [rows, vocab] array leaves the session. Sessions without it return logits.
   */
  readonly sampler?: SessionSampler;
  /**
   * Prefill and step that return each row's k largest logits (as `topK` finds them) instead of
   * the logits, computed in the session's step: no [rows, vocab] array leaves the session.
   */
  readonly topKSteps?: SessionTopK;
  /** Frees the cache. */
  dispose(): void;
}

/** One step's draws for sampling inside a session. */
export interface TokenDraw {
  /** The softmax temperature (> 0). */
  temperature: number;
  /** One uniform in [0, 1) per row (a finished row's is ignored). */
  uniforms: Float64Array;
  /** Per row the token it may not draw (EOS before min_new_tokens), or -1. */
  banned: BigInt64Array;
}

/** Prefill and step of a {@linkcode DecodeSession} that sample inside the session. */
export interface SessionSampler {
  /** As `DecodeSession.prefill`, returning each row's drawn token. */
  prefill(prompts: number[][], draw: TokenDraw, prefixes?: number[][]): Promise<Int32Array>;
  /** As `DecodeSession.step` (no beam reordering), returning each row's drawn token. */
  step(tokens: Int32Array, draw: TokenDraw): Promise<Int32Array>;
}

/** Prefill and step of a {@linkcode DecodeSession} that return each row's k largest logits. */
export interface SessionTopK {
  /** As `DecodeSession.prefill`, returning the k largest logits [rows * k] and their ids. */
  prefill(
    prompts: number[][],
    k: number,
    prefixes?: number[][],
  ): Promise<{ values: Float32Array; indices: BigInt64Array }>;
  /** As `DecodeSession.step` (no beam reordering), returning the same. */
  step(tokens: Int32Array, k: number): Promise<{ values: Float32Array; indices: BigInt64Array }>;
}

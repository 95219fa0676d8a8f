/**
 * The contracts between models and the rest of the library. Stages and rewards
 * depend on these types only; `models/gpt2.ts` and the guides implement them.
 * @module
 */
/** @ignore tfjs documents its own types; we reference them, not re-export them. */
import type * as tf from "@tensorflow/tfjs-core";
import type { Rng } from "../core/prng.ts";
import type { T5Config } from "./t5_config.ts";

/** Decoding options, named as Hugging Face's `generate` names them. */
export interface GenerateOptions {
  /** Tokens to generate per row (a number, or one number per row). */
  maxNewTokens: number | number[];
  /** EOS is suppressed until a row has this many new tokens (a number, or one per row). @default 0 */
  minNewTokens?: number | number[];
  /** Sample (true) or take the argmax / beam search (false). @default false */
  doSample?: boolean;
  /** Softmax temperature for sampling. @default 1 */
  temperature?: number;
  /** Keep the k most likely tokens (0 = off). @default 0 */
  topK?: number;
  /** Keep the smallest set with cumulative probability >= p (1 = off). @default 1 */
  topP?: number;
  /** Beam search width when `doSample` is false. @default 1 */
  numBeams?: number;
  /** The token that ends a row; null never ends. @default the model config's eos */
  eosTokenId?: number | null;
  /** Random stream for sampling; required when `doSample` is true (unless `rngs` is given). */
  rng?: Rng;
  /**
   * One random stream per row, used instead of `rng`: a row's samples then do not depend on
   * the rows it is batched with (a server batching many clients' requests needs that).
   */
  rngs?: Rng[];
  /**
   * One sampling seed per row, used instead of `rng` and `rngs`: row i samples from
   * `seededStream(seeds[i])` (models/sampling.ts), as a server asked with that seed does.
   */
  seeds?: number[];
  /**
   * Ends a row early when it returns true, called after each new token with the row's index
   * and its new tokens so far (Hugging Face's `stopping_criteria`; e.g. a stop string).
   * Sampling and greedy decoding only.
   */
  stoppingCriteria?: (row: number, newTokens: readonly number[]) => boolean;
  /**
   * Tokens each row's output already starts with (a restart state): decoding
   * continues after them and returns only the new tokens. A decoder-only model
   * reads them as the end of its input; a seq2seq model forces them into the
   * decoder after its start token.
   */
  prefixes?: number[][];
}

/**
 * A causal LM's token interface. Rows of `inputIds` may differ in length: they
 * are left-padded internally (attention mask 0 on pads, position ids =
 * cumsum(mask) - 1 clipped at 0).
 */
export interface TokenGenerator {
  /**
   * New tokens only, per row: up to and including the first EOS (then the row
   * stops, so rows can be shorter than maxNewTokens).
   */
  generate(inputIds: number[][], options: GenerateOptions): Promise<number[][]>;
  /**
   * True for seq2seq models: an output prefix goes to the decoder (through
   * `GenerateOptions.prefixes`), not after the prompt. Absent: decoder-only.
   */
  readonly seq2seq?: boolean;
}

/** A text tokenizer (GPT-2 BPE through transformers.js, or our own). */
export interface Tokenizer {
  /** Number of token ids, i.e. the size of the model's embedding and logits. */
  readonly vocabSize: number;
  /** The id that ends a generation (GPT-2: 50256, `<|endoftext|>`). */
  readonly eosTokenId: number;
  /** The id used to fill padded positions; never attended to, so any id works (often the EOS). */
  readonly padTokenId: number;
  /** Token ids of `text`, without adding BOS or EOS. */
  encode(text: string): number[];
  /**
   * The ids around every prompt's own (see {@linkcode promptIds}): the special tokens the
   * tokenizer starts a sequence with (Llama's BOS), or a chat template's turn markers. Absent:
   * a prompt is its text's ids alone (GPT-2, T5).
   */
  readonly promptFrame?: PromptFrame;
  /**
   * The text of `ids`; the inverse of `encode` for ids it produced. Special tokens
   * (EOS, padding) are left out where the tokenizer marks them special, so rewards
   * score a generation's words only; an empty list decodes to "".
   */
  decode(ids: number[]): string;
}

/** The config fields that give a decoder-only model's context (GPT-2's, the Llama family's). */
export type CausalContextConfig =
  | { readonly nPositions: number }
  | { readonly maxPositionEmbeddings: number };

/** A decoder-only model that scores continuations, with its context in its config. */
export interface CausalScorer {
  /** log π(c_t | prompt, c_<t) per continuation token. */
  continuationLogProbs(prompts: number[][], continuations: number[][]): Promise<number[][]>;
  /** Where its context length is read. */
  readonly config: CausalContextConfig;
}

/** The context length of a decoder-only model's config (GPT-2 `n_positions`, Llama's `max_position_embeddings`). */
export function causalContextLength(config: CausalContextConfig): number {
  return "nPositions" in config ? config.nPositions : config.maxPositionEmbeddings;
}

/** The ids a prompt's own ids sit between. */
export interface PromptFrame {
  /** Ids before the prompt's (BOS; a chat template's opening of the user turn). */
  readonly before: readonly number[];
  /** Ids after the prompt's (a chat template's close of the turn and the assistant's opening). */
  readonly after: readonly number[];
}

/**
 * A prompt's model input: the tokenizer's frame around its text's ids, the text left-truncated
 * so that the whole fits `maxTokens` (the frame is kept whole: a Llama prompt keeps its BOS).
 * @param tokenizer the tokenizer (its `promptFrame`, if any)
 * @param text the prompt
 * @param maxTokens the most ids the input may have (default: no limit)
 * @returns the ids
 */
export function promptIds(tokenizer: Tokenizer, text: string, maxTokens = Infinity): number[] {
  const ids = tokenizer.encode(text);
  const frame = tokenizer.promptFrame;
  const room = Math.max(0, maxTokens - (frame ? frame.before.length + frame.after.length : 0));
  const kept = ids.slice(Math.max(0, ids.length - room));
  return frame ? [...frame.before, ...kept, ...frame.after] : kept;
}

/** Outputs of a differentiable forward over prompt + continuation (tensors the caller owns). */
export interface ContinuationOutputs {
  /** [B, T] log π(c_t | prompt, c_<t) under the full softmax; 0 past a row's length. */
  logProbs: tf.Tensor2D;
  /** [B, T] entropy of the full next-token distribution at each continuation step, when asked for. */
  entropy?: tf.Tensor2D;
  /** [B, T, C] final hidden states (after ln_f) at the positions that predict c_t. */
  hidden: tf.Tensor3D;
}

/**
 * What training needs of a policy, decoder-only or seq2seq: sampling, the
 * log-probs of given continuations after each prompt, the differentiable
 * forward and its weights. {@linkcode CausalLM} and {@linkcode Seq2SeqLM} are
 * both one; stages and algorithms take this type.
 */
export interface PolicyLM extends TokenGenerator {
  /** log π(c_t | prompt, c_<t) per continuation token, one array per row of its length. */
  continuationLogProbs(prompts: number[][], continuations: number[][]): Promise<number[][]>;
  /** Differentiable forward for the learner: call inside `tf.tidy` or a gradient closure. */
  forwardContinuation(
    prompts: number[][],
    continuations: number[][],
    options?: { entropy?: boolean },
  ): ContinuationOutputs;
  /** The weights the optimizer updates. */
  trainableVariables(): tf.Variable[];
  /** A deep copy with its own weights (e.g. the frozen reference policy). */
  clone(): PolicyLM;
  /** Frees every tensor the model owns. */
  dispose(): void;
}

/**
 * A causal LM we can sample from, score and train: log-probs under the full
 * softmax; continuations right-padded to the longest row in the forward.
 */
export interface CausalLM extends PolicyLM {
  /** The GPT-2 hyperparameters the weights follow (vocab size, context length, eos). */
  readonly config: GPT2Config;
  /** Logits as plain arrays [batch][position][vocab]. */
  logits(inputIds: number[][], attentionMask?: number[][]): Promise<number[][][]>;
  /** A deep copy with its own weights (e.g. the frozen reference policy). */
  clone(): CausalLM;
}

/**
 * An encoder-decoder LM (T5) we can sample from, score and train: the prompt
 * is the encoder input, a continuation is the decoder output after the
 * decoder start token (teacher forcing: decoder inputs = [start] +
 * continuation[:-1]; the forward's `hidden` is the decoder's final-layer-norm
 * output). Prompts are right-padded internally.
 */
export interface Seq2SeqLM extends PolicyLM {
  /** The T5 hyperparameters the weights follow. */
  readonly config: T5Config;
  /**
   * Logits as plain arrays [batch][decoder position][vocab]; without masks,
   * ragged rows are right-padded and each row's real positions returned.
   */
  logits(
    inputIds: number[][],
    decoderInputIds: number[][],
    options?: { attentionMask?: number[][]; decoderAttentionMask?: number[][] },
  ): Promise<number[][][]>;
  /** New decoder tokens per row (decoder start excluded); `attentionMask` masks encoder pads. */
  generate(
    inputIds: number[][],
    options: GenerateOptions & { attentionMask?: number[][] },
  ): Promise<number[][]>;
  /** A deep copy with its own weights. */
  clone(): Seq2SeqLM;
}

/** A critic: V(s_t) for each continuation step, aligned with `continuationLogProbs`. */
export interface ValueModel {
  /** V(s_t) per continuation token, one array per row of that row's continuation length. */
  values(prompts: number[][], continuations: number[][]): Promise<number[][]>;
  /** Differentiable [B, T] values, for the value loss. */
  forwardValues(prompts: number[][], continuations: number[][]): tf.Tensor2D;
  /** The weights the critic's optimizer updates (shared trunk weights included, if any). */
  trainableVariables(): tf.Variable[];
  /** Frees every tensor the critic owns. */
  dispose(): void;
}

/** GPT-2's hyperparameters, with Hugging Face's `config.json` names in camelCase. */
export interface GPT2Config {
  /** Number of token ids (`vocab_size`; GPT-2: 50257). */
  vocabSize: number;
  /** Longest sequence, prompt plus continuation, the position table covers (`n_positions`). */
  nPositions: number;
  /** Hidden size C (`n_embd`); must be divisible by `nHead`. */
  nEmbd: number;
  /** Number of transformer blocks (`n_layer`). */
  nLayer: number;
  /** Attention heads per block (`n_head`); head size is nEmbd / nHead. */
  nHead: number;
  /** Inner MLP size; null means 4 * nEmbd. */
  nInner: number | null;
  /** Epsilon of every LayerNorm (`layer_norm_epsilon`; GPT-2: 1e-5). */
  layerNormEpsilon: number;
  /** MLP activation: "gelu_new" (GPT-2's tanh GELU), "gelu_pytorch_tanh", "gelu" or "relu". */
  activationFunction: string;
  /** Std of the normal used to initialise fresh weights (`initializer_range`; GPT-2: 0.02). */
  initializerRange: number;
  /** Id of the beginning-of-sequence token (GPT-2: 50256). */
  bosTokenId: number;
  /** Id that ends generation (GPT-2: 50256). */
  eosTokenId: number;
  /** Whether the LM head reuses the token embedding matrix (GPT-2: true). */
  tieWordEmbeddings: boolean;
}

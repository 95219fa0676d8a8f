/**
 * GPT-2 and T5 on TensorFlow.js: load and save Hugging Face folders
 * (`loadPolicy` picks the model by config.json's `model_type`), sample,
 * score and train, plus the value model and the backend switch.
 *
 * @example A tiny model, greedy decoding
 * ```ts
 * import { createGPT2, initBackend } from "./mod.ts";
 * import { Rng } from "../core/prng.ts";
 * await initBackend("cpu");
 * const model = createGPT2({ vocabSize: 16, nPositions: 8, nEmbd: 8, nLayer: 1, nHead: 2 }, new Rng(1));
 * const [tokens] = await model.generate([[1, 2]], { maxNewTokens: 3, eosTokenId: null });
 * if (tokens.length !== 3) throw new Error("expected 3 new tokens");
 * model.dispose();
 * ```
 * @module
 */
export type * from "./types.ts";
export { causalContextLength, promptIds } from "./types.ts";
export { type BackendName, ensureBackend, initBackend } from "./backend.ts";
export {
  checkGPT2Config,
  createGPT2,
  GPT2_DEFAULTS,
  gpt2FromHost,
  GPT2LM,
  gpt2WeightShapes,
  type LayerCache,
} from "./gpt2.ts";
export { gpt2ConfigToJson, loadCausalLM, parseGPT2Config, saveCausalLM } from "./checkpoint.ts";
export {
  decodeSafetensors,
  encodeSafetensors,
  type HostTensor,
  readSafetensors,
  readSafetensorsDir,
  safetensorsMetadata,
  writeSafetensors,
} from "./safetensors.ts";
export {
  HFTokenizer,
  loadModelTokenizer,
  loadTokenizer,
  TOKENIZER_FILES,
  type TransformersTokenizer,
} from "./tokenizer.ts";
export {
  checkT5Config,
  createT5,
  T5_DEFAULTS,
  type T5Batch,
  t5Batch,
  type T5CrossState,
  t5FromHost,
  type T5GenerateOptions,
  type T5KV,
  T5LM,
} from "./t5.ts";
export {
  positionBuckets,
  relativePositionBucket,
  type T5Config,
  t5ConfigFromHF,
  t5ConfigToHF,
  type T5FeedForward,
  t5WeightShapes,
} from "./t5_config.ts";
export {
  loadPolicy,
  loadSeq2SeqLM,
  type PolicyModel,
  savePolicy,
  saveSeq2SeqLM,
} from "./t5_checkpoint.ts";
export { T5Session } from "./t5_session.ts";
export {
  createValueModel,
  GPT2ValueModel,
  LinearValueModel,
  loadValueModel,
  saveValueModel,
  trunkWidth,
  VALUE_HEAD_FILE,
  type ValueModelOptions,
  type ValueTrunk,
} from "./value.ts";
export { dense, embedding, lmHead, softmaxEntropy, tokenLogProbs } from "./fused_ops.ts";
export { decodeRows, type DecodeRowsOptions, selectToken, type TokenChoice } from "./sampling.ts";
export { beamSearch, type BeamSearchOptions } from "./beam_search.ts";
export type { DecodeSession, SessionSampler, SessionTopK, TokenDraw } from "./decode_session.ts";
export type { LayerKV, OrtStepGraph, StepInputs, TopKStep } from "./ort_decode_session.ts";
export { KVSession } from "./kv_session.ts";
export { attentionBias, type Batch, leftPad, MASKED, PAD, positionIds } from "./padding.ts";
export { type DecoderLimits, generateWithSession } from "./generate.ts";
export {
  bpeEncode,
  type BpeModel,
  saveBpeTokenizer,
  trainBpe,
  type TrainBpeOptions,
} from "./bpe.ts";
export { loadOnnxCausalLM, OnnxCausalLM } from "./onnx_causal_lm.ts";
export {
  type EngineMode,
  type LoraGraphSpec,
  loraGraphSpec,
  onEngine,
  OnnxAcceleratedLM,
  OnnxAcceleratedSeq2SeqLM,
  OnnxAcceleratedValueModel,
  OnnxGpt2Engine,
  OnnxLlamaEngine,
  OnnxLlamaLM,
  OnnxT5Engine,
  openEngine,
  type OpenEngineOptions,
  type RunEngine,
  type ScoreResult,
  type StandalonePolicy,
  standalonePolicy,
  type T5ScoreResult,
  type T5Weights,
} from "./engine/mod.ts";
export { type CompleteText, textGuide } from "./text_guide.ts";
export {
  checkLoraConfig,
  createLoraAdapters,
  GPT2_LORA_LAYOUT,
  isTargeted,
  LLAMA_LORA_LAYOUT,
  LLAMA_PROJECTIONS,
  loadLoraAdapters,
  LoraAdapters,
  type LoraConfig,
  type LoraLayout,
  type LoraPair,
  loraScale,
  mergeLoraWeights,
  saveLoraAdapters,
  T5_LORA_LAYOUT,
} from "./lora.ts";
export {
  type ApiStats,
  apiStats,
  completionsApi,
  type CompletionsApiOptions,
  openResponseCache,
  type ResponseCache,
  retryAfterMs,
} from "./completions_api.ts";
export { llamaConfigToHF, llamaFromHost, LlamaLM, loadLlama, saveLlama } from "./llama.ts";
export {
  type Llama3RopeScaling,
  type LlamaConfig,
  llamaConfigFromHF,
  llamaWeightShapes,
  ropeInverseFrequencies,
  ropeTables,
} from "./llama_config.ts";
export {
  fetchHubModel,
  hubCacheDir,
  type HubId,
  parseHubId,
  resolveModelDir,
  type ResolveOptions,
} from "./hub.ts";

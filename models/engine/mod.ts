/**
 * The ONNX Runtime engine: GPT-2 and T5 graphs built by models/graph, sessions and
 * weight feeds, the tfjs custom-gradient bridge, the accelerated adapters and
 * {@linkcode openEngine}.
 * @module
 */
export { OnnxGpt2Engine, type ScoreResult, type TrainingForward } from "./engine.ts";
export {
  adapterVariables,
  type LoraGraphSpec,
  loraGraphSpec,
  loraInputName,
  trainedVariables,
} from "./lora_graph.ts";
export {
  onEngine,
  OnnxAcceleratedLM,
  OnnxAcceleratedSeq2SeqLM,
  OnnxAcceleratedValueModel,
  type RunEngine,
} from "./accelerated.ts";
export {
  type EngineMode,
  openEngine,
  type OpenEngineOptions,
  type StandalonePolicy,
  standalonePolicy,
} from "./open.ts";
export { OnnxT5Engine, type T5ScoreResult, type T5Weights } from "./t5_engine.ts";
export { OnnxLlamaEngine, OnnxLlamaLM } from "./llama_engine.ts";

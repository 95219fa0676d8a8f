/**
 * An OpenAI-compatible server for any model the library loads (`deno task serve`): the
 * completion service (batching concurrent requests into shared forward passes), its HTTP
 * routes, and the same service in-process as a text guide's completion function.
 * @module
 */
export {
  type DecodingSettings,
  type GenerationJob,
  GenerationQueue,
  type GenerationQueueOptions,
  type GenerationQueueStats,
  QueueFullError,
} from "./batcher.ts";
export {
  ApiError,
  type ChatMessage,
  type ChatRequest,
  type CompletionRequest,
  MAX_TOP_LOGPROBS,
  parseChatRequest,
  parseCompletionRequest,
  PLAIN_CHAT_STOPS,
  plainChatPrompt,
  type SamplingRequest,
} from "./requests.ts";
export {
  CompletionService,
  type CompletionServiceOptions,
  contextLengthOf,
  type ServedModel,
  type ServiceStats,
} from "./service.ts";
export { openAiHandler, type RunningServer, serveModel, type ServeOptions } from "./server.ts";
export { inProcessCompletions } from "./in_process.ts";
export {
  type LoraRoutes,
  type LoraServingOptions,
  ModelRegistry,
  serveLoraAdapters,
} from "./registry.ts";

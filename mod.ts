/**
 * rlgf: reinforcement learning from guided feedback for language models, in
 * Deno + TypeScript. A learner (GPT-2 on TensorFlow.js) is trained with PPO,
 * PPO++, AggreVaTeD, LOLS or D2LOLS ("Learning to Generate Better Than Your
 * LLM", Chang et al. 2023), helped by a guide policy: any local causal LM, an
 * ONNX model, or a black-box text API. Training is a pipeline of small RxJS
 * stages (prompts → roll-in → switch points → roll-out → reward → log-probs →
 * KL → values → advantages → PPO update); an algorithm is a short composition
 * of them, and the text stages also come as Web Streams `TransformStream`s.
 *
 * @example Train a tiny GPT with PPO++ on the sparse toy task
 * ```ts
 * import { lastValueFrom, toArray } from "rxjs";
 * import {
 *   createAlgorithmState, createGPT2, createValueModel, initBackend, Rng, runAlgorithm,
 *   toyGuide, toySparseTask, ToyTokenizer, trainOptions,
 * } from "./mod.ts";
 *
 * await initBackend("wasm");
 * const rng = new Rng(0);
 * const tokenizer = new ToyTokenizer();
 * const task = toySparseTask({ maxNewTokens: 3 });
 * const learner = createGPT2(
 *   { vocabSize: tokenizer.vocabSize, nPositions: 16, nEmbd: 16, nLayer: 1, nHead: 2, bosTokenId: 0, eosTokenId: 0 },
 *   rng.child("learner"),
 * );
 * const options = trainOptions({
 *   iterations: 2, trajectoriesPerUpdate: 8, maxPromptTokens: 8, learningRate: 1e-2,
 *   learner: { epochs: 1, minibatchSize: 8 },
 *   generation: { maxNewTokens: 3, minNewTokens: 0, topK: 0 },
 * });
 * const state = createAlgorithmState({
 *   learner,
 *   guide: toyGuide("caf", tokenizer),
 *   critics: { learner: createValueModel(learner, rng.child("critic")) },
 *   tokenizer,
 *   records: await task.records("train"),
 *   reward: task.reward,
 *   rng: rng.child("run"),
 * }, options);
 * const metrics = await lastValueFrom(runAlgorithm("ppo++", state, options).pipe(toArray()));
 * if (metrics.length !== 2) throw new Error("expected one metrics object per iteration");
 * ```
 * @module
 */
export * from "./core/mod.ts";
export * from "./models/mod.ts";
export * from "./stages/mod.ts";
export * from "./pipelines/mod.ts";
export * from "./rewards/mod.ts";
export * from "./tasks/mod.ts";
export * from "./serve/mod.ts";

/**
 * The algorithms: PPO, PPO++, AggreVaTeD, LOLS, D2LOLS and BC (the paper's), GRPO, RLOO,
 * REBEL, DR-PO and GRPO++ (beyond it), each a phase (or a chooser of phases) run by one
 * shared driver, plus `runAlgorithm` for the CLI. A phase may bring its own collect stages
 * and loss.
 *
 * @example A custom algorithm: PPO++ whose restart point is half the guide's roll-in
 * ```ts
 * import { lastValueFrom, toArray } from "rxjs";
 * import {
 *   createAlgorithmState, disposeAlgorithmState, type Phase, runIterations, trainOptions,
 * } from "./mod.ts";
 * import { createGPT2, createValueModel, initBackend } from "../models/mod.ts";
 * import { Rng } from "../core/mod.ts";
 * import { toyGuide, toySparseTask, ToyTokenizer } from "../tasks/mod.ts";
 *
 * const halfway: Phase = {
 *   name: "ppo++-halfway",
 *   rollIn: "guide",
 *   rollOut: "learner",
 *   beta: 1,
 *   switchPoint: (rollInLength) => Math.floor(rollInLength / 2),
 *   policyMask: "suffix",
 *   valueMask: "suffix",
 *   critic: "learner",
 * };
 * await initBackend();
 * const rng = new Rng(0);
 * const tokenizer = new ToyTokenizer();
 * const task = toySparseTask({ maxNewTokens: 3 });
 * const learner = createGPT2(
 *   { vocabSize: tokenizer.vocabSize, nPositions: 16, nEmbd: 16, nLayer: 1, nHead: 2, bosTokenId: 0, eosTokenId: 0 },
 *   rng.child("learner"),
 * );
 * const options = trainOptions({
 *   iterations: 2, trajectoriesPerUpdate: 8, maxPromptTokens: 8,
 *   learner: { epochs: 1, minibatchSize: 8 }, generation: { maxNewTokens: 3, minNewTokens: 0, topK: 0 },
 * });
 * const state = createAlgorithmState({
 *   learner, guide: toyGuide("caf", tokenizer), tokenizer, reward: task.reward, rng: rng.child("run"),
 *   critics: { learner: createValueModel(learner, rng.child("critic")) },
 *   records: await task.records("train"),
 * }, options);
 * const metrics = await lastValueFrom(runIterations(state, options, () => halfway).pipe(toArray()));
 * if (metrics.some((m) => m.phase !== "ppo++-halfway")) throw new Error("expected the custom phase");
 * disposeAlgorithmState(state);
 * ```
 * @module
 */
export {
  checkPhase,
  type CollectStages,
  collectTrajectories,
  type IterationMetrics,
  type Phase,
  type PhaseChooser,
  phaseNeeds,
  runIterations,
  type RunOptions,
  sampleTrajectories,
  scoreTrajectories,
} from "./iteration.ts";
export { TRAIN_DEFAULTS, type TrainOptions, trainOptions } from "./options.ts";
export {
  type AlgorithmState,
  createAlgorithmState,
  disposeAlgorithmState,
  type StateParts,
} from "./state.ts";
export { ppo, PPO_PHASE } from "./ppo.ts";
export { ppoPlusPlus, ppoPlusPlusPhase } from "./ppo_pp.ts";
export { aggrevated, aggrevatedPhase } from "./aggrevated.ts";
export { lols, lolsChooser } from "./lols.ts";
export { d2lols, d2lolsChooser, d2lolsSwitchIteration } from "./d2lols.ts";
export { groupCollect, grpo, grpoPhase } from "./grpo.ts";
export { rloo, rlooPhase } from "./rloo.ts";
export { rebel, rebelPhase } from "./rebel.ts";
export { drpo, drpoPhase } from "./drpo.ts";
export { grpoPlusPlus, grpoPlusPlusPhase } from "./grpo_pp.ts";
export { bc, type BcMetrics } from "./bc.ts";
export { type EvaluateOptions, evaluatePolicy } from "./evaluate.ts";
export {
  type Algorithm,
  type AlgorithmMetrics,
  type AlgorithmName,
  algorithmNeeds,
  checkAlgorithm,
  parseAlgorithm,
  RL_ALGORITHMS,
  type RlAlgorithmName,
  runAlgorithm,
} from "./run_algorithm.ts";

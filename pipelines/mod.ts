/**
 * The algorithms: PPO, PPO++, AggreVaTeD, LOLS, D2LOLS and BC, each a phase (or a
 * chooser of phases) run by one shared driver, plus `runAlgorithm` for the CLI.
 *
 * @example A custom algorithm: PPO++ whose restart point is half the guide's roll-in
 * ```ts ignore
 * import { lastValueFrom, toArray } from "rxjs";
 * import { type Phase, runIterations, trainOptions } from "./mod.ts";
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
 * // `state` from createAlgorithmState({ learner, guide, critics, tokenizer, records, reward, rng }, options)
 * const metrics = await lastValueFrom(runIterations(state, trainOptions(), () => halfway).pipe(toArray()));
 * ```
 * @module
 */
export {
  checkPhase,
  collectTrajectories,
  type IterationMetrics,
  type Phase,
  type PhaseChooser,
  runIterations,
  type RunOptions,
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
export { bc, type BcMetrics } from "./bc.ts";
export { type EvaluateOptions, evaluatePolicy } from "./evaluate.ts";
export {
  type AlgorithmMetrics,
  type AlgorithmName,
  checkAlgorithm,
  RL_ALGORITHMS,
  type RlAlgorithmName,
  runAlgorithm,
} from "./run_algorithm.ts";

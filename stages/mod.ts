/**
 * The stages: RxJS operators over batches of trajectories, each with explicit
 * inputs (models, a named child `Rng`, config). Compose them with `pipe()`.
 *
 * @example Switch points by the spec's sampler, reproducible by seed
 * ```ts
 * import { Rng } from "../core/prng.ts";
 * import { sampleSwitchPoint } from "./mod.ts";
 * const draw = (seed: number) => sampleSwitchPoint(10, 0.5, new Rng(seed));
 * if (draw(1) !== draw(1)) throw new Error("not reproducible");
 * ```
 * @module
 */
export type * from "./types.ts";
export { promptSource, type PromptSourceOptions } from "./prompt_source.ts";
export { datasetRollIn, rollIn, type RollInOptions } from "./roll_in.ts";
export {
  rollInCoins,
  type RollInCoinsOptions,
  sampleSwitchPoint,
  switchPoints,
  type SwitchPointSampler,
  type SwitchPointsOptions,
} from "./switch_points.ts";
export { rollOut, type RollOutOptions } from "./roll_out.ts";
export { lossMasks, type LossMasksOptions, maskRow, type MaskRule } from "./loss_masks.ts";
export { taskReward } from "./task_reward.ts";
export { logProbs, type LogProbsOptions } from "./log_probs.ts";
export { klReward, type KlRewardOptions } from "./kl_reward.ts";
export { type KlControllerConfig, nextKlCoef } from "./kl_controller.ts";
export { values, type ValuesOptions } from "./values.ts";
export { advantages, type AdvantagesOptions, gae } from "./advantages.ts";
export { clippedPolicyLoss, clippedValueLoss, maskedMean, padded } from "./ppo_loss.ts";
export {
  groupAdvantages,
  type GroupAdvantagesOptions,
  groupLeaderCoins,
  groupPrompts,
  groupRelative,
  shareGroupRollIns,
} from "./groups.ts";
export { rebelLoss } from "./rebel_loss.ts";
export { AdamW, type AdamWOptions, clipGradNorm } from "./adamw.ts";
export {
  type LearnerConfig,
  type LearnerModels,
  learnerUpdate,
  type LossFunction,
  ppoLoss,
  type PpoLossTerms,
  ppoUpdate,
  type UpdateOptions,
  type UpdateStats,
} from "./learner_update.ts";
export { concatBatches } from "./concat_batches.ts";
export { nllStep, type NllStepResult } from "./nll_update.ts";
export {
  generateRows,
  type GenerateRowsOptions,
  generationStream,
  metricRows,
  metricStream,
  rewardStream,
  scoreRows,
  type TextRow,
} from "./text_rows.ts";

/**
 * The data that flows between stages: a batch of trajectories as a struct of
 * arrays (plain numbers, never tensors, so tensor ownership never crosses a stage
 * boundary). Each stage adds one group of fields; the types say which stage must
 * run before which.
 * @module
 */

/** Which policy produced a token: the learner π_θ or the frozen guide π^g. */
export type PolicyName = "learner" | "guide";

/** Which critic estimates V(s_t): the learner's own, or the separate guide critic (LOLS, D2LOLS). */
export type CriticName = "learner" | "guide";

/**
 * Where a roll-in comes from: a policy, or the dataset's reference continuation
 * (DR-PO: the dataset as a guide).
 */
export type RollInSource = PolicyName | "dataset";

/** A batch of prompts, as the prompt source emits it. */
export interface PromptBatch {
  /** The training iteration this batch belongs to (0-based). */
  iteration: number;
  /** The batch's index within its iteration (0-based). */
  batchIndex: number;
  /** The prompt records' ids. */
  recordIds: string[];
  /** The prompt text of each row. */
  prompts: string[];
  /** The prompt token ids of each row (left-truncated to the maximum prompt length). */
  promptIds: number[][];
  /** The reference continuations of each row (may be empty). */
  references: string[][];
  /** The first reference of each row, tokenised and cut to the horizon (empty when none). */
  referenceIds: number[][];
}

/** Added by `rollInCoins`: which rows' roll-ins can be used (the spec's β coin). */
export interface CoinFields {
  /** Per row: true when its switch point may be past 0, so its roll-in is needed. */
  rollInWanted: boolean[];
}

/**
 * Added by `groupPrompts`: rows come in groups of `groupSize` consecutive rows that share
 * one prompt (GRPO, RLOO, REBEL's pairs); row i belongs to group floor(i / groupSize).
 */
export interface GroupFields {
  /** Rows per group. */
  groupSize: number;
}

/** Added by `rollIn`: the roll-in policy's full continuation of each row. */
export interface RollInFields {
  /** The roll-in's source, or null when there is no roll-in (PPO). */
  rollInPolicy: RollInSource | null;
  /** The roll-in tokens of each row (empty rows when there is no roll-in). */
  rollInTokens: number[][];
}

/** Added by `switchPoints`: the restart point k of each row. */
export interface SwitchFields {
  /** k per row: tokens t < k come from the roll-in policy, t >= k from the roll-out policy. */
  switchPoints: number[];
}

/** Added by `rollOut`: the finished trajectories. */
export interface RollOutFields {
  /** The roll-out policy. */
  rollOutPolicy: PolicyName;
  /** Generated tokens of each row: the first k roll-in tokens, then the roll-out's (at most H). */
  tokens: number[][];
  /** The decoded generation of each row. */
  generations: string[];
}

/** Added by `lossMasks`: which tokens enter the policy loss and the value loss (1 or 0). */
export interface MaskFields {
  /** [B][T_i] 1 where the token receives policy gradient. */
  policyMask: number[][];
  /** [B][T_i] 1 where V(s_t) is regressed on the return. */
  valueMask: number[][];
}

/** Added by `taskReward`: the terminal task reward R(x, y) of each row. */
export interface RewardFields {
  /** [B] R(x, y) of each row's decoded generation. */
  taskRewards: number[];
}

/** Added by `logProbs`: per-token log-probs under the full softmax. */
export interface LogProbFields {
  /** [B][T_i] log π_θ(a_t | s_t) before the update (the "old" log-probs of PPO). */
  logProbs: number[][];
  /** [B][T_i] log π_ref(a_t | s_t); equal to `logProbs` when there is no reference. */
  refLogProbs: number[][];
}

/** Added by `klReward`: per-token rewards. */
export interface KlFields {
  /** The KL coefficient c used for this batch. */
  klCoef: number;
  /** [B][T_i] r^KL_t = -c (log π_θ - log π_ref); zeros when the KL reward is off. */
  klRewards: number[][];
  /** [B][T_i] KL reward plus the task reward at the last token. */
  rewards: number[][];
  /** Summed per-token KL estimate Σ_t (log π_θ - log π_ref) of each row. */
  kl: number[];
}

/** Added by `values`: the critic's estimates. */
export interface ValueFields {
  /** The critic that produced `values` and that the value loss trains; null: none (critic-free). */
  critic: CriticName | null;
  /** [B][T_i] V(s_t) (zeros without a critic). */
  values: number[][];
}

/** Added by `advantages`: GAE advantages and returns. */
export interface AdvantageFields {
  /** [B][T_i] GAE(γ, λ) advantages. */
  advantages: number[][];
  /** [B][T_i] advantages + values. */
  returns: number[][];
}

/** A batch after roll-out. */
export type RolledOutBatch = PromptBatch & RollInFields & SwitchFields & RollOutFields;

/** A complete trajectory batch, ready for the learner. */
export type Trajectories =
  & RolledOutBatch
  & Partial<GroupFields>
  & MaskFields
  & RewardFields
  & LogProbFields
  & KlFields
  & ValueFields
  & AdvantageFields;

/** Decoding settings of roll-in and roll-out (always sampled). */
export interface GenerationConfig {
  /** The horizon H: new tokens per trajectory. */
  maxNewTokens: number;
  /** EOS is suppressed until a trajectory has this many tokens. @default 0 */
  minNewTokens: number;
  /** Top-k (0 = off). */
  topK: number;
  /** Top-p (1 = off). */
  topP: number;
  /** Softmax temperature. */
  temperature: number;
  /** The token that ends a trajectory (null: never; absent: the policy's own). */
  eosTokenId?: number | null;
  /**
   * Whether trajectories end at EOS; false is the config-file way to say
   * `eosTokenId: null` (every trajectory runs to the horizon). @default true
   */
  stopAtEos?: boolean;
}

/**
 * The KL coefficient's controllers: fixed, or adaptive towards a target KL.
 * @module
 */

/** How the KL coefficient evolves. */
export interface KlControllerConfig {
  /**
   * "fixed" keeps c; "ziegler" is Ziegler et al. / TRL legacy
   * (c ← c (1 + clip((KL - target)/target, -0.2, 0.2) n / horizon));
   * "rl4lms" is RL4LMs (c ← c (1 + 0.1 clip((KL - target)/target, -0.2, 0.2))).
   * @default "fixed"
   */
  kind: "fixed" | "ziegler" | "rl4lms";
  /** Target per-trajectory summed KL of the adaptive controllers. @default 6 */
  target: number;
  /** Horizon of the "ziegler" controller (in trajectories). @default 10000 */
  horizon: number;
}

/**
 * One controller step, taken once per iteration.
 *
 * @param config the controller
 * @param coef the current coefficient c
 * @param kl the mean per-trajectory summed KL of the iteration
 * @param n the number of trajectories in the iteration (the "ziegler" step size)
 * @returns the next coefficient
 */
export function nextKlCoef(
  config: KlControllerConfig,
  coef: number,
  kl: number,
  n: number,
): number {
  if (config.kind === "fixed") return coef;
  if (!(config.target > 0)) throw new RangeError(`KL target must be > 0, got ${config.target}`);
  const error = Math.min(0.2, Math.max(-0.2, (kl - config.target) / config.target));
  if (config.kind === "ziegler") {
    if (!(config.horizon > 0)) {
      throw new RangeError(`KL horizon must be > 0, got ${config.horizon}`);
    }
    return coef * (1 + error * n / config.horizon);
  }
  if (config.kind === "rl4lms") return coef * (1 + 0.1 * error);
  throw new RangeError(
    `KL controller must be "fixed", "ziegler" or "rl4lms", got ${JSON.stringify(config.kind)}`,
  );
}

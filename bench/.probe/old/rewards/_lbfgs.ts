/**
 * Limited-memory BFGS (Nocedal and Wright, "Numerical Optimization", Algorithm 7.4 and 7.5) with a
 * backtracking Armijo line search, for smooth convex objectives such as L2-regularised logistic
 * regression. Deterministic: no randomness.
 * @module
 */

/** Computes f(x) and writes ∇f(x) into `grad`. */
export type Objective = (x: Float64Array, grad: Float64Array) => number;

/** Options of {@linkcode minimizeLbfgs}. */
export interface LbfgsOptions {
  /** Pairs (s, y) kept. @default 10 */
  memory?: number;
  /** Iteration limit. @default 200 */
  maxIterations?: number;
  /** Stop when ‖∇f‖∞ <= gradTol · max(1, |f|). @default 1e-6 */
  gradTol?: number;
  /**
   * Stop when f's relative decrease over the last `window` iterations is below `relTol · window`
   * (one tiny step alone does not stop it). @default 1e-9
   */
  relTol?: number;
  /** Iterations the `relTol` test looks back over. @default 10 */
  window?: number;
  /** Called after each iteration. */
  onIteration?: (iteration: number, f: number, gradNorm: number) => void;
}

/** What {@linkcode minimizeLbfgs} ends with. */
export interface LbfgsResult {
  x: Float64Array;
  f: number;
  iterations: number;
}

/**
 * Minimises `objective` from `x0` (which is not modified).
 * @param objective f and its gradient
 * @param x0 the start point
 * @param options memory, limits and tolerances
 * @returns the final point, its value and the iterations used
 */
export function minimizeLbfgs(
  objective: Objective,
  x0: Float64Array,
  options: LbfgsOptions = {},
): LbfgsResult {
  const m = options.memory ?? 10;
  const maxIterations = options.maxIterations ?? 200;
  const gradTol = options.gradTol ?? 1e-6;
  const relTol = options.relTol ?? 1e-9;
  const window = options.window ?? 10;
  const history: number[] = [];
  const n = x0.length;
  let x = Float64Array.from(x0);
  let g = new Float64Array(n);
  let f = objective(x, g);
  history.push(f);
  const sList: Float64Array[] = [];
  const yList: Float64Array[] = [];
  const rho: number[] = [];
  const alpha = new Float64Array(m);
  const d = new Float64Array(n);
  let xNew = new Float64Array(n);
  let gNew = new Float64Array(n);
  let iteration = 0;
  while (iteration < maxIterations) {
    if (maxAbs(g) <= gradTol * Math.max(1, Math.abs(f))) break;
    // Two-loop recursion: d = -H g.
    d.set(g);
    for (let k = sList.length - 1; k >= 0; k--) {
      alpha[k] = rho[k] * dot(sList[k], d);
      axpy(-alpha[k], yList[k], d);
    }
    if (sList.length > 0) {
      const last = sList.length - 1;
      scale(d, dot(sList[last], yList[last]) / dot(yList[last], yList[last]));
    } else {
      // First step: a unit-length move, the usual safe scaling of steepest descent.
      scale(d, 1 / Math.max(norm(g), 1e-12));
    }
    for (let k = 0; k < sList.length; k++) {
      const beta = rho[k] * dot(yList[k], d);
      axpy(alpha[k] - beta, sList[k], d);
    }
    scale(d, -1);
    let slope = dot(g, d);
    if (slope >= 0) {
      // Not a descent direction (numerical trouble): restart from steepest descent.
      sList.length = yList.length = rho.length = 0;
      d.set(g);
      scale(d, -1 / Math.max(norm(g), 1e-12));
      slope = dot(g, d);
    }
    // Backtracking Armijo line search from the unit step.
    let step = 1;
    let fNew = Infinity;
    for (let tries = 0; tries < 40; tries++) {
      for (let i = 0; i < n; i++) xNew[i] = x[i] + step * d[i];
      fNew = objective(xNew, gNew);
      if (fNew <= f + 1e-4 * step * slope) break;
      step *= 0.5;
    }
    if (!(fNew < f)) break;
    // Once memory is full, the oldest pair is dropped and its arrays reused.
    const full = sList.length === m;
    if (full) rho.shift();
    const s = full ? sList.shift()! : new Float64Array(n);
    const y = full ? yList.shift()! : new Float64Array(n);
    for (let i = 0; i < n; i++) {
      s[i] = xNew[i] - x[i];
      y[i] = gNew[i] - g[i];
    }
    const sy = dot(s, y);
    if (sy > 1e-12) {
      sList.push(s);
      yList.push(y);
      rho.push(1 / sy);
    }
    [x, xNew] = [xNew, x];
    [g, gNew] = [gNew, g];
    f = fNew;
    history.push(f);
    iteration++;
    options.onIteration?.(iteration, f, maxAbs(g));
    if (history.length > window) {
      const before = history[history.length - 1 - window];
      if ((before - f) / Math.max(Math.abs(f), 1e-12) < relTol * window) break;
    }
  }
  return { x, f, iterations: iteration };
}

function dot(a: Float64Array, b: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}

function axpy(a: number, x: Float64Array, y: Float64Array): void {
  for (let i = 0; i < x.length; i++) y[i] += a * x[i];
}

function scale(x: Float64Array, a: number): void {
  for (let i = 0; i < x.length; i++) x[i] *= a;
}

function norm(x: Float64Array): number {
  return Math.sqrt(dot(x, x));
}

function maxAbs(x: Float64Array): number {
  let max = 0;
  for (let i = 0; i < x.length; i++) max = Math.max(max, Math.abs(x[i]));
  return max;
}

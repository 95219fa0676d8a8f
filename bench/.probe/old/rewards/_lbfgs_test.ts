import assert from "node:assert/strict";
import { minimizeLbfgs } from "./_lbfgs.ts";

Deno.test("minimizeLbfgs() finds the Rosenbrock minimum (1, 1)", () => {
  const rosenbrock = (x: Float64Array, g: Float64Array) => {
    const [a, b] = x;
    g[0] = -2 * (1 - a) - 400 * a * (b - a * a);
    g[1] = 200 * (b - a * a);
    return (1 - a) ** 2 + 100 * (b - a * a) ** 2;
  };
  const result = minimizeLbfgs(rosenbrock, Float64Array.from([-1.2, 1]), {
    maxIterations: 500,
    gradTol: 1e-10,
    relTol: 0,
  });
  assert.ok(Math.abs(result.x[0] - 1) < 1e-5 && Math.abs(result.x[1] - 1) < 1e-5, `${result.x}`);
});

Deno.test("minimizeLbfgs() solves a linear system as a quadratic, without touching x0", () => {
  // f = ½ xᵀAx − bᵀx with A = [[4, 1], [1, 3]], b = [1, 2]: x* = A⁻¹b = [1/11, 7/11].
  const quadratic = (x: Float64Array, g: Float64Array) => {
    g[0] = 4 * x[0] + x[1] - 1;
    g[1] = x[0] + 3 * x[1] - 2;
    return 0.5 * (4 * x[0] * x[0] + 2 * x[0] * x[1] + 3 * x[1] * x[1]) - x[0] - 2 * x[1];
  };
  const x0 = new Float64Array(2);
  const result = minimizeLbfgs(quadratic, x0, { gradTol: 1e-12, relTol: 0 });
  assert.ok(Math.abs(result.x[0] - 1 / 11) < 1e-9 && Math.abs(result.x[1] - 7 / 11) < 1e-9);
  assert.deepEqual([...x0], [0, 0]);
});

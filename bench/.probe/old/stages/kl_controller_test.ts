import assert from "node:assert/strict";
import { type KlControllerConfig, nextKlCoef } from "./kl_controller.ts";

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`);

Deno.test("nextKlCoef() fixed never changes the coefficient", () => {
  assert.equal(nextKlCoef({ kind: "fixed", target: 6, horizon: 10000 }, 0.1, 100, 64), 0.1);
});

Deno.test("nextKlCoef() ziegler: c (1 + clip((KL - target)/target, ±0.2) n / horizon)", () => {
  const config: KlControllerConfig = { kind: "ziegler", target: 6, horizon: 10000 };
  close(nextKlCoef(config, 0.1, 9, 100), 0.1 * (1 + 0.2 * 100 / 10000)); // error 0.5 clipped
  close(nextKlCoef(config, 0.1, 5.4, 100), 0.1 * (1 - 0.1 * 100 / 10000)); // error -0.1
  close(nextKlCoef(config, 0.1, 0, 50), 0.1 * (1 - 0.2 * 50 / 10000));
});

Deno.test("nextKlCoef() rl4lms: c (1 + 0.1 clip((KL - target)/target, ±0.2))", () => {
  const config: KlControllerConfig = { kind: "rl4lms", target: 6, horizon: 10000 };
  close(nextKlCoef(config, 0.1, 9, 100), 0.102);
  close(nextKlCoef(config, 0.1, 3, 100), 0.098);
  close(nextKlCoef(config, 0.1, 6.6, 1), 0.101);
});

Deno.test("nextKlCoef() rejects an unknown kind and a bad target", () => {
  assert.throws(
    () => nextKlCoef({ kind: "pid" as "fixed", target: 6, horizon: 1 }, 0.1, 1, 1),
    /KL controller must be "fixed", "ziegler" or "rl4lms", got "pid"/,
  );
  assert.throws(() => nextKlCoef({ kind: "rl4lms", target: 0, horizon: 1 }, 0.1, 1, 1), /> 0/);
});

import assert from "node:assert/strict";
import { mergeConfig } from "./config.ts";
import { ConfigError } from "./errors.ts";

const defaults = { lr: 1e-5, learner: { epochs: 5, clip: 0.2 }, name: "x", guide: null };

Deno.test("mergeConfig() overrides nested fields and keeps the rest", () => {
  const merged = mergeConfig(defaults, { learner: { epochs: 2 } });
  assert.deepEqual(merged, { lr: 1e-5, learner: { epochs: 2, clip: 0.2 }, name: "x", guide: null });
  assert.equal(defaults.learner.epochs, 5);
});

Deno.test("mergeConfig() names an unknown key with its dotted path", () => {
  assert.throws(
    () => mergeConfig(defaults, { learner: { epoch: 2 } }),
    (e: Error) => e instanceof ConfigError && e.message.includes('"learner.epoch"'),
  );
});

Deno.test("mergeConfig() rejects a value of the wrong type", () => {
  assert.throws(
    () => mergeConfig(defaults, { lr: "fast" }),
    (e: Error) => e instanceof ConfigError && /"lr".*expected number/.test(e.message),
  );
});

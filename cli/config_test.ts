import assert from "node:assert/strict";
import { ConfigError } from "../core/errors.ts";
import {
  CONFIG_CHOICES,
  PRESETS,
  readConfigFile,
  resolveConfig,
  validateRunConfig,
} from "./config.ts";

function rejects(values: Record<string, unknown>, field: string, pattern: RegExp, preset = "toy") {
  assert.throws(() => resolveConfig(preset, [{ source: "my.yaml", values }]), (error: Error) => {
    assert.ok(error instanceof ConfigError, error.message);
    assert.equal(error.field, field);
    assert.match(error.message, pattern);
    return true;
  });
}

Deno.test("validateRunConfig() rejects an unknown value of each enumerated field, naming it", () => {
  rejects({ task: { name: "wikitext" } }, "task.name", /"wikitext".*imdb, commongen/);
  rejects({ policy: { source: "hub" } }, "policy.source", /"hub".*build, dir/);
  rejects({ guide: { kind: "gpt3" } }, "guide.kind", /"gpt3".*bc, strong, dir, onnx, api/);
  rejects({ reward: { kind: "bleu" } }, "reward.kind", /"bleu".*classifier, onnx, spider/);
  rejects({ engine: "cuda" }, "engine", /"cuda".*auto, onnx, onnx-rollouts, tfjs/);
  rejects({ algo: "dpo" }, "algo", /"dpo".*ppo, ppo\+\+.*bc\+<algorithm>/);
  rejects({ algo: "bc+dpo" }, "algo", /"bc\+dpo"/);
});

Deno.test("validateRunConfig() requires the fields a choice depends on", () => {
  rejects({ policy: { source: "dir" } }, "policy.dir", /must be set/);
  rejects({ guide: { kind: "onnx" } }, "guide.dir", /must be set.*"onnx"/);
  rejects({ guide: { kind: "api", apiUrl: "http://x" } }, "guide.apiModel", /must be set/);
  rejects({ guide: { kind: "api", apiModel: "m" } }, "guide.apiUrl", /must be set/);
  rejects({ reward: { kind: "onnx" } }, "reward.path", /must be set/);
});

Deno.test("validateRunConfig() accepts every algorithm and every preset but imdb-gpt2/-llama as shipped", () => {
  for (const algo of ["ppo", "ppo++", "aggrevated", "lols", "d2lols", "bc", "bc+ppo++"]) {
    assert.equal(resolveConfig("toy", [{ source: "flags", values: { algo } }]).algo, algo);
  }
  const named = ["imdb-gpt2", "imdb-llama"]; // their models are folders the user names
  for (const name of Object.keys(PRESETS).filter((n) => !named.includes(n))) {
    validateRunConfig(resolveConfig(name, []));
  }
  for (const name of named) {
    assert.throws(() => resolveConfig(name, []), /policy\.dir/);
  }
  // imdb-gpt2 reads GPT-2 and the sentiment model from folders the user names.
  const gpt2 = resolveConfig("imdb-gpt2", [{
    source: "my.json",
    values: { policy: { dir: "/models/gpt2" }, reward: { path: "/models/distilbert-imdb" } },
  }]);
  assert.equal(gpt2.policy.source, "dir");
  assert.equal(gpt2.reward.kind, "onnx");
  assert.deepEqual(Object.keys(CONFIG_CHOICES).sort(), [
    "engine",
    "guide.apiKind",
    "guide.kind",
    "policy.architecture",
    "policy.init",
    "policy.source",
    "reward.kind",
    "rollout.kind",
    "task.name",
  ]);
  // beam search is deterministic decoding: asking for beams while sampling is an error
  assert.throws(
    () =>
      resolveConfig("commongen-small", [{
        source: "my.json",
        values: { evaluation: { doSample: true } },
      }]),
    /evaluation\.numBeams.*beam search needs evaluation\.doSample false/,
  );
  assert.throws(
    () => resolveConfig("toy", [{ source: "my.json", values: { policy: { init: "warm" } } }]),
    /policy\.init.*expected one of: pretrained, bc/,
  );
});

Deno.test("resolveConfig() checks the API guide's client settings, naming the field", () => {
  const bad: [Record<string, unknown>, string][] = [
    [{ timeoutSeconds: 0 }, "guide.timeoutSeconds"],
    [{ maxRetries: 1.5 }, "guide.maxRetries"],
    [{ concurrency: 0 }, "guide.concurrency"],
    [{ batchSize: -1 }, "guide.batchSize"],
    [{ apiKeyEnv: "my key" }, "guide.apiKeyEnv"],
  ];
  for (const [guide, field] of bad) {
    assert.throws(
      () => resolveConfig("toy", [{ source: "test.json", values: { guide } }]),
      (error: Error) => error instanceof ConfigError && error.message.includes(field),
      field,
    );
  }
  const ok = resolveConfig("toy", [{
    source: "test.json",
    values: { guide: { apiKind: "chat", apiKeyEnv: "MY_KEY", maxRetries: 0 } },
  }]);
  assert.equal(ok.guide.apiKind, "chat");
  assert.equal(ok.guide.timeoutSeconds, 60);
});

Deno.test("readConfigFile() takes inline JSON, and names --config when it is malformed", async () => {
  assert.deepEqual(await readConfigFile('{"train":{"learningRate":3e-4}}'), {
    train: { learningRate: 3e-4 },
  });
  await assert.rejects(
    readConfigFile('{"train":'),
    (e: Error) => e.message.startsWith("--config: malformed inline JSON"),
  );
});

Deno.test("reward.coverageWeight: a number ≥ 0, CommonGen only", () => {
  assert.throws(
    () =>
      resolveConfig("commongen-small", [{
        source: "t",
        values: { reward: { coverageWeight: -1 } },
      }]),
    /reward\.coverageWeight.*expected a finite number ≥ 0, got -1/,
  );
  assert.throws(
    () =>
      resolveConfig("imdb-small", [{ source: "t", values: { reward: { coverageWeight: 0.5 } } }]),
    /reward\.coverageWeight.*commongen/,
  );
  assert.equal(
    resolveConfig("commongen-small", [{ source: "t", values: { reward: { coverageWeight: 0.5 } } }])
      .reward.coverageWeight,
    0.5,
  );
});

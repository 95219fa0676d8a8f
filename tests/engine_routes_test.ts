/**
 * The three engine settings train the same thing: a toy PPO++ iteration with gradient steps on
 * ONNX Runtime ("auto"), on tfjs with ONNX roll-outs ("onnx-rollouts") and on tfjs alone
 * ("tfjs") reports the same losses, gradient norm and entropy, up to float32 rounding.
 */
import assert from "node:assert/strict";

const root = new URL("..", import.meta.url).pathname;

async function firstIteration(base: string, engine: string): Promise<Record<string, number>> {
  const config = `${base}/${engine}.json`;
  await Deno.writeTextFile(config, JSON.stringify({ engine }));
  const out = `${base}/${engine}`;
  const run = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "cli/train.ts",
      ...["--preset", "toy", "--algo", "ppo++", "--iterations", "1", "--seed", "4"],
      ...["--config", config, "--out", out],
    ],
    cwd: root,
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(run.code, 0, new TextDecoder().decode(run.stderr));
  const [first] = (await Deno.readTextFile(`${out}/metrics.jsonl`)).trim().split("\n");
  return JSON.parse(first);
}

Deno.test("engine auto, onnx-rollouts and tfjs give the same first PPO++ update", async () => {
  const base = await Deno.makeTempDir();
  try {
    const auto = await firstIteration(base, "auto");
    const rollouts = await firstIteration(base, "onnx-rollouts");
    const tfjs = await firstIteration(base, "tfjs");
    // the same roll-outs: the ONNX engine samples token for token as tfjs does
    assert.equal(auto.reward_mean, rollouts.reward_mean);
    assert.equal(auto.reward_mean, tfjs.reward_mean);
    for (const key of ["loss_policy", "loss_value", "entropy", "approx_kl", "grad_norm"]) {
      for (const [name, other] of [["onnx-rollouts", rollouts], ["tfjs", tfjs]] as const) {
        const [a, b] = [auto[key], other[key]];
        assert.ok(
          Math.abs(a - b) <= 1e-4 + 1e-3 * Math.abs(b),
          `${key}: auto ${a} vs ${name} ${b}`,
        );
      }
    }
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

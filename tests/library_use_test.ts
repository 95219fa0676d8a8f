/**
 * Issue 16: the library as a user meets it. The README's TypeScript snippets
 * type-check and run, and another Deno project (a temporary folder outside the
 * repository) uses the package through `"links"` and its subpath exports.
 */
import assert from "node:assert/strict";

const root = new URL("../", import.meta.url).pathname.replace(/\/$/, "");

async function deno(args: string[], cwd: string): Promise<{ code: number; out: string }> {
  const result = await new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    env: { NO_COLOR: "1", RLGF_BACKEND: "" },
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: result.code, out: decode(result.stdout) + decode(result.stderr) };
}

/** The package's entry points (deno.json exports), whose module docs hold examples. */
const ENTRY_POINTS = [
  "mod.ts",
  ...["core", "models", "stages", "pipelines", "rewards", "tasks", "serve"]
    .map((dir) => `${dir}/mod.ts`),
];

Deno.test("the README's ts snippets and the entry points' examples type-check and run", async () => {
  const readme = await Deno.readTextFile(`${root}/README.md`);
  const blocks = readme.match(/^```ts$/gm) ?? [];
  assert.ok(blocks.length >= 3, `expected the README's checked ts blocks, found ${blocks.length}`);
  const { code, out } = await deno(["test", "--doc", "-A", "README.md", ...ENTRY_POINTS], root);
  assert.equal(code, 0, out);
  const passed = Number(out.match(/ok \| (\d+) passed \| 0 failed/)?.[1]);
  assert.ok(passed >= blocks.length + 5, out.slice(-400)); // README blocks + module examples
  assert.match(out, /ppo\+\+-halfway: reward/); // the custom algorithm ran its iterations
  assert.match(out, /"generation":"[^"]*","reward":/); // the stream pipeline scored rows
});

Deno.test("another Deno project links the repo and imports @rlgf/rlgf and its subpaths", async () => {
  const dir = await Deno.makeTempDir({ prefix: "rlgf-user-" });
  try {
    assert.ok(!dir.startsWith(root), "the user project must live outside the repository");
    await Deno.writeTextFile(
      `${dir}/deno.json`,
      JSON.stringify({ links: [root], imports: { "@rlgf/rlgf": "jsr:@rlgf/rlgf@^0.1.0" } }),
    );
    await Deno.writeTextFile(
      `${dir}/main.ts`,
      `import { loadCausalLM, type Phase } from "@rlgf/rlgf";
import { lossMasks } from "@rlgf/rlgf/stages";
import { ppoPlusPlusPhase } from "@rlgf/rlgf/pipelines";
import { createValueModel } from "@rlgf/rlgf/models";
import { rougeL } from "@rlgf/rlgf/rewards";
import { toySparseTask } from "@rlgf/rlgf/tasks";
import { Rng } from "@rlgf/rlgf/core";

const phase: Phase = ppoPlusPlusPhase(0.2);
const model = await loadCausalLM(Deno.args[0]);
const [tokens] = await model.generate([[1, 2]], { maxNewTokens: 2, eosTokenId: null });
const critic = createValueModel(model, new Rng(0));
console.log(JSON.stringify({
  phase: phase.name,
  tokens: tokens.length,
  stage: typeof lossMasks,
  rouge: rougeL(["a b c"], [["a b c"]]).corpus,
  task: toySparseTask().name,
}));
critic.dispose();
model.dispose();
`,
    );
    const check = await deno(["check", "main.ts"], dir);
    assert.equal(check.code, 0, check.out);
    assert.doesNotMatch(check.out, /not a dependency|Failed resolving types/);
    const run = await deno(["run", "-A", "main.ts", `${root}/tests/fixtures/tiny-gpt2`], dir);
    assert.equal(run.code, 0, run.out);
    const line = run.out.split("\n").find((l) => l.startsWith("{"));
    assert.deepEqual(JSON.parse(line ?? "null"), {
      phase: "ppo++",
      tokens: 2,
      stage: "function",
      rouge: 1,
      task: "toy-sparse",
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the test task's doc lint prints no type-resolution warning and still fails on a lint error", async () => {
  const task = JSON.parse(await Deno.readTextFile(`${root}/deno.json`)).tasks.test as string;
  const step = task.split("&&").map((s) => s.trim()).find((s) => s.startsWith("deno doc"));
  assert.equal(step, "deno doc -q --lint mod.ts");
  const clean = await deno(step!.split(" ").slice(1), root);
  assert.equal(clean.code, 0, clean.out);
  assert.doesNotMatch(clean.out, /Failed resolving types|Warning/);
  // a real lint error still shows and fails the step
  const dir = await Deno.makeTempDir({ prefix: "doc_lint_" });
  try {
    await Deno.writeTextFile(`${dir}/deno.json`, "{}");
    await Deno.writeTextFile(`${dir}/mod.ts`, "export const undocumented = 1;\n");
    const broken = await deno(["doc", "-q", "--lint", "mod.ts"], dir);
    assert.notEqual(broken.code, 0);
    assert.match(broken.out, /missing-jsdoc/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

import assert from "node:assert/strict";
import { claimsMarkdown, paperClaims, paperHtml, type RunResult, table1 } from "./paper_tables.ts";

/** A Table 1 run of `algo` whose learner scores `reward`, beside a BC guide scoring `guide`. */
function run(algo: string, seed: number, reward: number, guide = 0.6): RunResult {
  return {
    table: "1",
    algo,
    variant: "",
    seed,
    dir: `runs/${algo}-${seed}`,
    evaluation: [
      { model: "learner (trained)", reward_mean: reward },
      { model: "zero-shot", reward_mean: 0.5 },
      { model: "BC guide", reward_mean: guide },
    ],
  };
}

Deno.test("paperClaims(): holds, reversed or within the spread, by hand", () => {
  const runs = [
    // ppo 0.60 ± 0.01; ppo++ 0.70 ± 0.01 (beyond the spread); d2lols 0.61 ± 0.03 (within)
    ...[0.59, 0.60, 0.61].map((r, s) => run("ppo", s, r)),
    ...[0.69, 0.70, 0.71].map((r, s) => run("ppo++", s, r)),
    ...[0.58, 0.61, 0.64].map((r, s) => run("d2lols", s, r)),
  ];
  const claims = paperClaims(runs);
  const by = (name: string) => claims.find((c) => c.claim === name)!;
  assert.equal(by("ppo++ beats ppo").verdict, "holds");
  assert.ok(Math.abs(by("ppo++ beats ppo").difference - 0.1) < 1e-12);
  assert.equal(by("d2lols beats ppo").verdict, "within spread");
  // d2lols 0.61 ± 0.03 against ppo++ 0.70 ± 0.01: 0.09 > 0.04, the other way
  assert.equal(by("d2lols beats ppo++").verdict, "reversed");
  // against the guide (0.6 ± 0 in every run)
  assert.equal(by("ppo++ beats the BC guide").verdict, "holds");
  assert.equal(by("ppo beats the BC guide").verdict, "within spread");
  // no runs, no claim: nothing about aggrevated, lols or the bc+ family
  assert.ok(!claims.some((c) => /^(aggrevated|lols) |bc\+|beats (aggrevated|lols)$/.test(c.claim)));
  const md = claimsMarkdown(claims);
  const html = paperHtml("# header", [table1(runs, ["ppo", "ppo++", "d2lols"])], claims);
  assert.match(html, /<tr class="holds"><td>ppo\+\+ beats ppo<\/td>/);
  assert.match(html, /<svg[^>]*aria-label="Table 1: [^"]* — reward_mean"/);
  assert.match(
    md,
    /\| ppo\+\+ beats ppo \| 0\.700 ± 0\.010 \| 0\.600 ± 0\.010 \| \+0\.100 \| holds \|/,
  );
});

Deno.test("paperClaims(): a smaller easy−hard gap wins the difficulty claim", () => {
  const withGap = (algo: string, seed: number, hard: number, easy: number): RunResult => ({
    ...run(algo, seed, (hard + easy) / 2),
    perPrompt: {
      ids: ["a", "b", "c"],
      rewards: [hard, (hard + easy) / 2, easy],
      difficulty: [0.1, 0.5, 0.9],
      difficultyKind: "prompt-reward",
    },
  });
  const runs = [
    ...[0, 1].map((s) => withGap("ppo", s, 0.2 + s * 0.01, 0.8)),
    ...[0, 1].map((s) => withGap("d2lols", s, 0.6 + s * 0.01, 0.8)),
  ];
  const claim = paperClaims(runs).find((c) =>
    c.claim === "d2lols's easy−hard gap is smaller than ppo's"
  )!;
  assert.equal(claim.verdict, "holds");
  // gaps 0.2 (d2lols) and 0.6 (ppo) on average, shown negated
  assert.ok(Math.abs(claim.higher.value.mean + 0.195) < 1e-12);
  assert.ok(Math.abs(claim.lower.value.mean + 0.595) < 1e-12);
});

Deno.test("table3GuideKind(): the preset's own guide where no strong guide applies", async () => {
  const { table3GuideKind } = await import("./paper.ts");
  assert.equal(table3GuideKind("toy"), "toy");
  assert.equal(table3GuideKind("commongen-small"), "bc");
});

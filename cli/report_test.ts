import assert from "node:assert/strict";
import {
  DEFAULT_BOUNDS,
  histogram,
  lineChart,
  niceTicks,
  phaseSpans,
  renderComparison,
  renderReport,
  reportCommand,
  reportWarnings,
  splitMetrics,
} from "./report.ts";

const ticksOf = (svg: string) =>
  [...svg.matchAll(/<text class="tick"[^>]*>([^<]+)<\/text>/g)].map((m) => m[1]);

Deno.test("niceTicks() steps by 1, 2 or 5 times a power of ten and covers the range", () => {
  assert.deepEqual(niceTicks(0, 1).ticks, [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(-0.06, 0.02).ticks, [-0.06, -0.04, -0.02, 0, 0.02]);
  assert.deepEqual(niceTicks(1, 40, 6).ticks, [0, 10, 20, 30, 40]);
  const { ticks } = niceTicks(0.31, 0.47);
  assert.ok(ticks[0] <= 0.31 && ticks.at(-1)! >= 0.47 && ticks.length >= 3, String(ticks));
  assert.ok(ticks.includes(0) === false);
});

Deno.test("lineChart() counts iterations from 1, draws ticks and gridlines, skips NaN", () => {
  const metrics = [0, 1, 2, 3].map((iteration) => ({
    iteration,
    r: iteration === 2 ? NaN : iteration / 3,
  }));
  const svg = lineChart(metrics, "r");
  const path = svg.match(/<path class="line" d="(M[^"]+)"/)![1];
  assert.equal(path.split(" ").length, 3);
  const labels = ticksOf(svg);
  assert.ok(labels.includes("1") && labels.includes("4"), `x ticks from 1: ${labels}`);
  assert.ok(!labels.includes("0.0") || labels.includes("0"), "y ticks");
  assert.ok((svg.match(/class="grid"/g) ?? []).length >= 6);
  assert.equal(lineChart([{ r: "x" }], "r"), "");
});

Deno.test("the reward chart has a ± std band and phase bands where D2LOLS switches", () => {
  const metrics = Array.from({ length: 10 }, (_, i) => ({
    iteration: i,
    phase: i < 2 ? "aggrevated" : "ppo++",
    reward_mean: 0.1 * i,
    reward_std: 0.05,
  }));
  assert.deepEqual(phaseSpans(metrics), [
    { phase: "aggrevated", from: 1, to: 2 },
    { phase: "ppo++", from: 3, to: 10 },
  ]);
  const svg = lineChart(metrics, "reward_mean", {
    bandKey: "reward_std",
    phases: phaseSpans(metrics),
  });
  assert.equal((svg.match(/<rect class="phase"/g) ?? []).length, 2);
  assert.match(svg, /aggrevated: iterations 1-2/);
  assert.match(svg, /<path class="band" d="M[^"]+ Z"/);
  const html = renderReport({
    title: "t",
    config: {},
    metrics,
    evaluation: [],
    samples: [],
  });
  assert.match(html, /aggrevated iterations 1-2, then ppo\+\+ iterations 3-10/);
});

Deno.test("constant metrics are listed as values, not drawn", () => {
  const metrics = [0, 1, 2].map((iteration) => ({
    iteration,
    reward_mean: iteration,
    kl_coef: 0.01,
    response_length: 24,
  }));
  assert.deepEqual(splitMetrics(metrics), {
    varying: ["reward_mean"],
    constant: [["kl_coef", 0.01], ["response_length", 24]],
  });
  const html = renderReport({ title: "t", config: {}, metrics, evaluation: [], samples: [] });
  assert.match(html, /Constant over the run.*<th>kl_coef<\/th><td>0\.0100<\/td>/s);
  assert.doesNotMatch(html, /aria-label="KL coefficient c"/);
  assert.match(html, /aria-label="task reward \(mean ± std\)"/);
});

Deno.test("reportWarnings() flags negative KL, a perplexity rise, entropy collapse and blow-up, high clip fractions", () => {
  const metrics = [0, 1, 2, 3].map((iteration) => ({
    iteration,
    kl: iteration === 2 ? -0.03 : 0.5,
    entropy: 4 - iteration,
    clip_fraction: iteration === 3 ? 0.45 : 0.1,
  }));
  const evaluation = [
    { model: "learner (trained)", reward_mean: 0.7, "fluency/perplexity": 46.5 },
    { model: "zero-shot", reward_mean: 0.5, "fluency/perplexity": 31.2 },
  ];
  const warnings = reportWarnings(metrics, evaluation);
  assert.equal(warnings.length, 4, warnings.join("\n"));
  assert.match(
    warnings[0],
    /^Negative KL estimate in 1 of 4 iterations \(lowest -0\.0300 at iteration 3\)/,
  );
  assert.match(warnings[1], /^Perplexity rose 49% over the zero-shot model \(31\.2000 → 46\.5000/);
  assert.match(warnings[1], /20% bound \(report\.maxPerplexityRise\)/);
  assert.match(warnings[2], /^Entropy collapse: 4 nats at iteration 1, 1 at iteration 4/);
  assert.match(
    warnings[3],
    /^Clip fraction above 0\.3 .* in 1 of 4 iterations \(highest 0\.4500 at iteration 4\)/,
  );
  // the bounds come from the config; a blow-up is the other side
  const quiet = reportWarnings(
    metrics.map((m) => ({ ...m, kl: 1, entropy: 1 + m.iteration })),
    evaluation,
    {
      maxPerplexityRise: 0.6,
      minEntropyRatio: 0.5,
      maxEntropyRatio: 5,
      maxClipFraction: 0.5,
      maxDistinct2Drop: 0.05,
      beatGuide: true,
    },
  );
  assert.deepEqual(quiet, []);
  const blowUp = reportWarnings(metrics.map((m) => ({ ...m, entropy: 1 + m.iteration })), []);
  assert.ok(blowUp.some((w) => w.startsWith("Entropy blow-up: 1 nats at iteration 1, 4")));
});

Deno.test("histogram() bins every group over shared edges", () => {
  const h = histogram([[0, 0, 1], [1, 1, 1, 0.5]], 4);
  assert.deepEqual(h.edges, [0, 0.25, 0.5, 0.75]);
  assert.deepEqual(h.counts, [[2, 0, 0, 1], [0, 0, 1, 3]]);
});

Deno.test("renderReport() shows histograms before/after, samples with rewards, escaped and offline", () => {
  const generations = ["zero-shot", "learner (trained)", "guide"].flatMap((model, m) =>
    [0, 1, 2].map((i) => ({
      model,
      id: `val-${i}`,
      prompt: i === 0 ? "<b>hi</b>" : `p${i}`,
      generation: `${model} says a & b ${i}`,
      reward: m * 0.3 + i * 0.1,
    }))
  );
  const html = renderReport({
    title: "run",
    config: { algo: "d2lols" },
    metrics: [{ iteration: 0, reward_mean: 0.2 }, { iteration: 1, reward_mean: 0.4 }],
    evaluation: [{ model: "learner (trained)", reward_mean: 0.7 }],
    samples: [],
    generations,
  });
  assert.ok(html.includes("&lt;b&gt;hi&lt;/b&gt;"));
  assert.ok(html.includes("learner (trained) says a &amp; b 1"));
  assert.match(html, /reward histogram/);
  assert.match(html, /before: zero-shot \(n=3\)/);
  assert.match(html, /after: learner \(trained\) \(n=3\)/);
  assert.match(
    html,
    /<code>val-1<\/code>.*zero-shot says a &amp; b 1<div class="reward">reward 0\.1000/s,
  );
  assert.ok(
    !/https?:\/\//.test(html.replaceAll("http://www.w3.org/2000/svg", "")),
    "no network references",
  );
});

Deno.test("deno task report: one run re-rendered in its folder, several compared in one page", async () => {
  const base = await Deno.makeTempDir();
  try {
    for (const [name, slope] of [["a", 0.1], ["b", 0.2]] as const) {
      const dir = `${base}/${name}`;
      await Deno.mkdir(dir);
      await Deno.writeTextFile(
        `${dir}/config.json`,
        JSON.stringify({ algo: "ppo", preset: "toy", seed: 1, task: { name: "toy-sparse" } }),
      );
      await Deno.writeTextFile(
        `${dir}/metrics.jsonl`,
        [0, 1, 2].map((i) =>
          JSON.stringify({ iteration: i, phase: "ppo", reward_mean: slope * i, kl: 0.1 }) + "\n"
        ).join(""),
      );
      await Deno.writeTextFile(
        `${dir}/evaluation.json`,
        JSON.stringify([{ model: "learner (trained)", reward_mean: slope }, {
          model: "guide",
          reward_mean: 1,
        }]),
      );
    }
    const single = await reportCommand([`${base}/a`]);
    assert.equal(single, `${base}/a/report.html`);
    const page = await Deno.readTextFile(single!);
    assert.match(page, /rlgf ppo on toy-sparse \(preset toy, seed 1\)/);
    assert.match(page, /Learner reward 0\.1000 vs guide 1\.0000/);

    const out = `${base}/compare.html`;
    assert.equal(await reportCommand([`${base}/a`, `${base}/b/`, "--out", out]), out);
    const compare = await Deno.readTextFile(out);
    assert.match(compare, /<td>a<\/td><td>learner \(trained\)<\/td><td>0\.1000<\/td>/);
    assert.match(compare, /<td>b<\/td><td>learner \(trained\)<\/td><td>0\.2000<\/td>/);
    const reward = compare.split("<svg").find((s) => s.includes('aria-label="task reward'))!;
    assert.equal((reward.match(/<path class="line"/g) ?? []).length, 2, "one curve per run");
    assert.ok(renderComparison([]).includes("No metrics"));
    await assert.rejects(() => reportCommand([]), /at least one run folder/);
    await assert.rejects(() => reportCommand([`${base}/none`]), /none: not a run folder/);
    await assert.rejects(() => reportCommand(["--bogus"]), /bogus/);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("reportWarnings() flags a distinct-2 fall and a learner that does not beat its guide", () => {
  const evaluation = [
    { model: "learner (trained)", reward_mean: 0.61, "diversity/distinct-2": 0.52 },
    { model: "zero-shot", reward_mean: 0.5, "diversity/distinct-2": 0.6 },
    { model: "BC guide", reward_mean: 0.63, "diversity/distinct-2": 0.58 },
  ];
  const warnings = reportWarnings([], evaluation);
  assert.equal(warnings.length, 2, warnings.join("\n"));
  assert.match(warnings[0], /^Distinct-2 fell from 0\.6000 \(zero-shot\) to 0\.5200/);
  assert.match(warnings[1], /mean reward 0\.6100 does not exceed the BC guide's 0\.6300/);
  // within the bounds, or with the guide check off: none
  const fine = evaluation.map((row, i) =>
    i === 0 ? { ...row, reward_mean: 0.7, "diversity/distinct-2": 0.56 } : row
  );
  assert.deepEqual(reportWarnings([], fine), []);
  assert.deepEqual(
    reportWarnings([], evaluation, { ...DEFAULT_BOUNDS, beatGuide: false, maxDistinct2Drop: 0.1 }),
    [],
  );
});

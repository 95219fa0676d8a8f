import assert from "node:assert/strict";
import { lineChart, renderReport } from "./report.ts";

Deno.test("lineChart() draws one path point per finite value, skipping NaN", () => {
  const svg = lineChart(
    [{ iteration: 0, r: 0 }, { iteration: 1, r: NaN }, { iteration: 2, r: 1 }],
    "r",
  );
  const path = svg.match(/<path d="(M[^"]+)" fill="none" stroke="#1f77b4"/)![1];
  assert.equal(path.split(" ").length, 2);
  assert.equal(lineChart([{ r: "x" }], "r"), "");
});

Deno.test("renderReport() is self-contained and escapes generated text", () => {
  const html = renderReport({
    title: "run",
    config: { algo: "d2lols" },
    metrics: [{ iteration: 0, reward_mean: 0.2 }, { iteration: 1, reward_mean: 0.4 }],
    evaluation: [{ model: "learner", sentiment: 0.7 }],
    samples: [{ prompt: "<b>hi</b>", before: "a & b", after: "ok" }],
  });
  assert.ok(html.includes("&lt;b&gt;hi&lt;/b&gt;"));
  assert.ok(html.includes("a &amp; b"));
  assert.ok(html.includes("<svg"));
  assert.ok(
    !/https?:\/\//.test(html.replaceAll("http://www.w3.org/2000/svg", "")),
    "no network references",
  );
});

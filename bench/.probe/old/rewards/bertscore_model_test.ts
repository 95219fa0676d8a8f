import assert from "node:assert/strict";
import { bertScoreIdf, greedyCosineMatch } from "./bertscore.ts";
import { loadBertScorer } from "./bertscore_model.ts";
import reference from "../tests/fixtures/tiny-bert-onnx/reference.json" with { type: "json" };

const modelDir = new URL("../tests/fixtures/tiny-bert-onnx", import.meta.url).pathname;
const sentences = reference.sentences;
const pairs = reference.bertscore.pairs;

Deno.test("greedyCosineMatch() on the fixture's PyTorch hidden states gives its BERTScore", () => {
  for (const pair of pairs) {
    const c = sentences[pair.candidate_index].last_hidden_state[0];
    const r = sentences[pair.reference_index].last_hidden_state[0];
    const s = greedyCosineMatch(c, r);
    // The fixture rounds to 6 significant digits.
    assert.ok(Math.abs(s.precision - pair.P) < 5e-6, `P ${s.precision} vs ${pair.P}`);
    assert.ok(Math.abs(s.recall - pair.R) < 5e-6, `R ${s.recall} vs ${pair.R}`);
    assert.ok(Math.abs(s.f1 - pair.F1) < 5e-6, `F1 ${s.f1} vs ${pair.F1}`);
  }
});

Deno.test({
  name: "loadBertScorer() embeds and scores as the PyTorch reference does",
  fn: async () => {
    const scorer = await loadBertScorer({ modelDir });
    try {
      for (const s of sentences) {
        const e = await scorer.embed(s.text);
        assert.deepEqual(e.ids, s.input_ids);
        let maxDiff = 0;
        e.embeddings.forEach((row, t) =>
          row.forEach((v, k) =>
            maxDiff = Math.max(maxDiff, Math.abs(v - s.last_hidden_state[0][t][k]))
          )
        );
        assert.ok(maxDiff < 1e-4, `hidden states differ by ${maxDiff}`);
      }
      const r = await scorer.score(
        pairs.map((p) => p.candidate),
        pairs.map((p) => [p.reference]),
      );
      pairs.forEach((p, i) => {
        assert.ok(Math.abs(r.precision[i] - p.P) < 1e-5);
        assert.ok(Math.abs(r.recall[i] - p.R) < 1e-5);
        assert.ok(Math.abs(r.f1[i] - p.F1) < 1e-5);
      });
      // Two references: the better one (the identical sentence) is kept.
      const multi = await scorer.score([pairs[0].candidate], [[
        pairs[0].reference,
        pairs[0].candidate,
      ]]);
      assert.ok(Math.abs(multi.f1[0] - 1) < 1e-6);
    } finally {
      await scorer.dispose();
    }
  },
});

Deno.test({
  name: "loadBertScorer() with idf weights tokens by the references' idf",
  fn: async () => {
    const scorer = await loadBertScorer({ modelDir, idf: true });
    try {
      const cands = [sentences[0].text, sentences[2].text];
      const refs = [[sentences[1].text], [sentences[0].text]];
      const r = await scorer.score(cands, refs);
      const idf = bertScoreIdf([sentences[1].input_ids, sentences[0].input_ids]);
      [[0, 1], [2, 0]].forEach(([ci, ri], i) => {
        const c = sentences[ci];
        const ref = sentences[ri];
        const expected = greedyCosineMatch(c.last_hidden_state[0], ref.last_hidden_state[0], {
          candidate: c.input_ids.map(idf),
          reference: ref.input_ids.map(idf),
        });
        assert.ok(Math.abs(r.f1[i] - expected.f1) < 1e-5, `${r.f1[i]} vs ${expected.f1}`);
        assert.ok(Math.abs(r.precision[i] - expected.precision) < 1e-5);
      });
    } finally {
      await scorer.dispose();
    }
  },
});

Deno.test("loadBertScorer() names a folder without a model", async () => {
  await assert.rejects(
    () => loadBertScorer({ modelDir: "/nonexistent/model" }),
    /\/nonexistent\/model/,
  );
});

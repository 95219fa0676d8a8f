import assert from "node:assert/strict";
import {
  positionBuckets,
  relativePositionBucket,
  t5ConfigFromHF,
  t5WeightShapes,
} from "./t5_config.ts";
import { readSafetensors } from "./safetensors.ts";

const fixture = (name: string) => new URL(`../tests/fixtures/${name}`, import.meta.url).pathname;

for (const name of ["tiny-t5", "tiny-t5-v1_1"]) {
  Deno.test(`T5 buckets equal Hugging Face's on ${name}'s reference table`, async () => {
    const ref = JSON.parse(await Deno.readTextFile(`${fixture(name)}/reference.json`));
    const config = t5ConfigFromHF(
      JSON.parse(await Deno.readTextFile(`${fixture(name)}/config.json`)),
    );
    const table = ref.relative_position_buckets;
    table.relative_position.forEach((rp: number, i: number) => {
      const b = config.relativeAttentionNumBuckets, d = config.relativeAttentionMaxDistance;
      assert.equal(
        relativePositionBucket(rp, true, b, d),
        table.bidirectional[i],
        `bidirectional ${rp}`,
      );
      assert.equal(relativePositionBucket(rp, false, b, d), table.causal[i], `causal ${rp}`);
    });
    // [queries, keys] with a query offset (a decode step at position 5)
    const buckets = positionBuckets(1, 6, false, config, 5);
    assert.deepEqual(
      Array.from(buckets),
      [5, 4, 3, 2, 1, 0].map((k) => relativePositionBucket(-k, false, 32, 128)),
    );
  });

  Deno.test(`t5WeightShapes lists exactly ${name}'s tensors`, async () => {
    const config = t5ConfigFromHF(
      JSON.parse(await Deno.readTextFile(`${fixture(name)}/config.json`)),
    );
    const tensors = await readSafetensors(`${fixture(name)}/model.safetensors`);
    const stored = new Map([...tensors].map(([k, t]) => [k, t.shape]));
    assert.deepEqual(
      [...t5WeightShapes(config)].sort(),
      [...stored].filter(([k]) => !k.endsWith("embed_tokens.weight")).sort(),
    );
  });
}

Deno.test("t5ConfigFromHF names the file and field of a bad value", () => {
  assert.throws(
    () =>
      t5ConfigFromHF({
        vocab_size: 10,
        d_model: 8,
        d_kv: 4,
        num_heads: 2,
        d_ff: 16,
        num_layers: 1,
        feed_forward_proj: "swish",
      }, "m/config.json"),
    /m\/config\.json: unknown "feed_forward_proj" "swish"/,
  );
  assert.throws(
    () => t5ConfigFromHF({ num_layers: 1, vocab_size: -1 }, "m/config.json"),
    /m\/config\.json: "vocab_size" must be/,
  );
});

import assert from "node:assert/strict";
import { ConfigError } from "../core/errors.ts";
import { ciderD } from "./cider_d.ts";
import { spiderReward, spiderScores } from "./spider.ts";
import type { SpiderOptions } from "./spider.ts";

const generations = ["A dog runs in the field.", "Two cats sleep!", "A man rides a bike"];
const references = [
  ["A dog is running in a field.", "The dog runs."],
  ["Two cats are sleeping."],
  ["A man riding a bicycle.", "Someone rides a bike down the road."],
];
const tokenised = {
  cands: ["a dog runs in the field", "two cats sleep", "a man rides a bike"],
  refs: [
    ["a dog is running in a field", "the dog runs"],
    ["two cats are sleeping"],
    ["a man riding a bicycle", "someone rides a bike down the road"],
  ],
};

Deno.test("spiderReward() without SPICE is cCIDEr times CIDEr-D over the batch", async () => {
  const reward = spiderReward({ spice: false, cCider: 2 });
  assert.equal(reward.mode, "cider");
  const r = await reward({ prompts: ["", "", ""], generations, references });
  const expected = ciderD(tokenised.cands, tokenised.refs).perItem.map((c) => 2 * c);
  assert.deepEqual(r, expected);
  assert.ok(r.every((v) => v > 0));
});

Deno.test("spiderReward() refuses a config that does not say whether SPICE is used", () => {
  assert.throws(() => spiderReward({} as SpiderOptions), ConfigError);
  assert.throws(() => spiderReward({ spice: null, cSpice: NaN }), /cSpice/);
});

Deno.test("spiderReward() names a batch without references", async () => {
  const reward = spiderReward({ spice: null });
  await assert.rejects(() => reward({ prompts: ["x"], generations: ["x"] }), /batch\.references/);
});

Deno.test({
  name: "spiderScores() adds cSPICE times SPICE from the jar (fake java)",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      // The fake jar answers SPICE 0.5, NaN and 0.25 for the three items.
      const result = [0.5, "NaN", 0.25].map((f, i) => ({ image_id: i, scores: { All: { f } } }));
      await Deno.writeTextFile(`${dir}/result.json`, JSON.stringify(result));
      await Deno.writeTextFile(`${dir}/spice-1.0.jar`, "");
      await Deno.writeTextFile(
        `${dir}/java`,
        `#!/bin/sh\nwhile [ $# -gt 0 ]; do [ "$1" = "-out" ] && cp "${dir}/result.json" "$2"; shift; done\n`,
      );
      await Deno.chmod(`${dir}/java`, 0o755);
      const s = await spiderScores(generations, references, {
        spice: { jarPath: `${dir}/spice-1.0.jar`, javaPath: `${dir}/java` },
        cSpice: 3,
      });
      assert.equal(s.mode, "spice+cider");
      assert.deepEqual(s.spice, [0.5, 0, 0.25]);
      const cider = ciderD(tokenised.cands, tokenised.refs).perItem;
      assert.deepEqual(s.perItem, [3 * 0.5 + cider[0], cider[1], 3 * 0.25 + cider[2]]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

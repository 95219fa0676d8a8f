import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { initBackend } from "../models/backend.ts";
import { loadCausalLM } from "../models/checkpoint.ts";
import { BASE_FILES, type BaseRecord, fileSha256, IMDB_BASE_RECIPE } from "./imdb_base.ts";
import { SHIPPED_BASE_DIR } from "./imdb_small.ts";

// The shipped base model lands once `deno task pretrain` has finished its recipe.
const shipped = existsSync(`${SHIPPED_BASE_DIR}/pretrain.json`);

Deno.test({
  name: "the shipped base model matches its recorded checksums, recipe and held-out bound",
  ignore: !shipped,
  fn: async () => {
    await initBackend();
    const record: BaseRecord = JSON.parse(
      await Deno.readTextFile(`${SHIPPED_BASE_DIR}/pretrain.json`),
    );
    for (const name of BASE_FILES) {
      assert.equal(await fileSha256(`${SHIPPED_BASE_DIR}/${name}`), record.sha256[name], name);
    }
    assert.deepEqual(record.recipe, { ...IMDB_BASE_RECIPE });
    assert.ok(record.heldOut.bitsPerByte <= 1.6, `held-out ${record.heldOut.bitsPerByte}`);
    let bytes = 0;
    for (const entry of Deno.readDirSync(SHIPPED_BASE_DIR)) {
      bytes += Deno.statSync(`${SHIPPED_BASE_DIR}/${entry.name}`).size;
    }
    assert.ok(bytes <= 40e6, `${bytes} bytes`);
    const model = await loadCausalLM(SHIPPED_BASE_DIR);
    try {
      assert.equal(model.config.nLayer, IMDB_BASE_RECIPE.nLayer);
      assert.equal(model.config.nEmbd, IMDB_BASE_RECIPE.nEmbd);
      assert.equal(model.tokenizer?.vocabSize, IMDB_BASE_RECIPE.vocabSize);
      const card = await Deno.readTextFile(`${SHIPPED_BASE_DIR}/README.md`);
      assert.ok(card.includes(record.heldOut.bitsPerByte.toFixed(3)));
    } finally {
      model.dispose();
    }
  },
});

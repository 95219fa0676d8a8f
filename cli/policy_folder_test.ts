import assert from "node:assert/strict";
import { Rng } from "../core/prng.ts";
import { initBackend } from "../models/backend.ts";
import { loadCausalLM } from "../models/checkpoint.ts";
import { createGPT2 } from "../models/gpt2.ts";
import { T5LM } from "../models/t5.ts";
import { loadPolicy } from "../models/t5_checkpoint.ts";
import { ToyTokenizer } from "../tasks/toy.ts";
import { resolveConfig } from "./config.ts";
import { savePolicyFolder, shellQuote } from "./policy_folder.ts";

await initBackend();
const FIXTURE = new URL("../tests/fixtures/tiny-gpt2", import.meta.url).pathname;
const readJson = async (path: string) => JSON.parse(await Deno.readTextFile(path));

Deno.test("savePolicyFolder() writes a complete Hugging Face folder that loads back (toy tokenizer)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const config = resolveConfig("toy", [{
      source: "test",
      values: { train: { generation: { topK: 7, topP: 0.9, temperature: 0.8 } } },
    }]);
    const tokenizer = new ToyTokenizer();
    const model = createGPT2({
      vocabSize: 16,
      nPositions: 32,
      nEmbd: 8,
      nLayer: 1,
      nHead: 2,
      bosTokenId: 0,
      eosTokenId: 0,
    }, new Rng(1));
    const command = ["deno", "task", "train", "--preset", "toy", "--out", "/tmp/my run"]
      .map(shellQuote).join(" ");
    await savePolicyFolder(model, tokenizer, config, `${dir}/policy`, {
      command,
      evaluation: [{ model: "learner (trained)", reward_mean: 0.75 }, {
        model: "guide",
        reward_mean: 1,
      }],
      iterations: 40,
      trainRecords: 100,
    });
    const files = [...Deno.readDirSync(`${dir}/policy`)].map((e) => e.name).sort();
    assert.deepEqual(files, [
      "README.md",
      "config.json",
      "generation_config.json",
      "model.safetensors",
      "special_tokens_map.json",
      "tokenizer.json",
      "tokenizer_config.json",
    ]);
    assert.deepEqual(await readJson(`${dir}/policy/generation_config.json`), {
      _from_model_config: false,
      bos_token_id: 0,
      eos_token_id: null, // the toy preset never stops at EOS (stopAtEos: false)
      pad_token_id: 0,
      max_new_tokens: 3,
      min_new_tokens: 0,
      do_sample: true,
      top_k: 7,
      top_p: 0.9,
      temperature: 0.8,
    });
    const tokenizerConfig = await readJson(`${dir}/policy/tokenizer_config.json`);
    assert.equal(tokenizerConfig.model_max_length, 32);
    assert.equal(tokenizerConfig.eos_token, ".");
    assert.deepEqual(await readJson(`${dir}/policy/special_tokens_map.json`), {
      bos_token: ".",
      eos_token: ".",
      pad_token: ".",
    });
    const card = await Deno.readTextFile(`${dir}/policy/README.md`);
    for (
      const expected of [
        "library_name: transformers",
        "**d2lols**",
        "randomly initialised",
        "task `toy-sparse`, 100 training prompts",
        "| learner (trained) | 0.7500 |",
        "deno task train --preset toy --out '/tmp/my run'",
        "after 40 iterations",
      ]
    ) assert.ok(card.includes(expected), `the card should say ${expected}`);

    const back = await loadCausalLM(`${dir}/policy`);
    assert.deepEqual(back.config, model.config);
    assert.deepEqual(back.tokenizer!.encode("abc.o"), tokenizer.encode("abc.o"));
    assert.deepEqual(await back.logits([[1, 2, 3]]), await model.logits([[1, 2, 3]]));
    back.dispose();
    model.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("savePolicyFolder() keeps a folder tokenizer's files and adds model_max_length", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const config = resolveConfig("imdb-small", []);
    const model = await loadCausalLM(FIXTURE);
    await savePolicyFolder(model, model.tokenizer!, config, dir, {
      command: "deno task train",
    });
    const original = await readJson(`${FIXTURE}/tokenizer_config.json`);
    const saved = await readJson(`${dir}/tokenizer_config.json`);
    assert.deepEqual(saved, { ...original, model_max_length: model.config.nPositions });
    assert.deepEqual(
      await Deno.readTextFile(`${dir}/tokenizer.json`),
      await Deno.readTextFile(`${FIXTURE}/tokenizer.json`),
    );
    const special = await readJson(`${dir}/special_tokens_map.json`);
    assert.equal(special.eos_token, original.eos_token);
    const generation = await readJson(`${dir}/generation_config.json`);
    assert.equal(generation.max_new_tokens, 24);
    assert.equal(generation.min_new_tokens, 24);
    assert.equal(generation.top_k, 50);
    assert.equal(generation.eos_token_id, model.config.eosTokenId);
    assert.ok((await Deno.readTextFile(`${dir}/README.md`)).includes("Not evaluated yet"));
    const back = await loadCausalLM(dir);
    assert.deepEqual(back.tokenizer!.encode("The quick"), model.tokenizer!.encode("The quick"));
    back.dispose();
    model.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a toy training run leaves a complete policy folder (and one per checkpoint) that loads back", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const root = new URL("..", import.meta.url).pathname;
    const args = ["--preset", "toy", "--iterations", "2", "--seed", "1", "--out", `${dir}/run`];
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "cli/train.ts", ...args],
      cwd: root,
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    for (const policy of [`${dir}/run/policy`, `${dir}/run/checkpoints/iter-000002/policy`]) {
      for (
        const file of [
          "config.json",
          "model.safetensors",
          "generation_config.json",
          "tokenizer.json",
          "tokenizer_config.json",
          "special_tokens_map.json",
          "README.md",
        ]
      ) assert.ok((await Deno.stat(`${policy}/${file}`)).isFile, `${policy}/${file}`);
      const generation = await readJson(`${policy}/generation_config.json`);
      assert.equal(generation.max_new_tokens, 3);
      assert.equal(generation.do_sample, true);
      assert.equal((await readJson(`${policy}/tokenizer_config.json`)).model_max_length, 32);
      const card = await Deno.readTextFile(`${policy}/README.md`);
      assert.ok(card.includes(`deno task train ${args.join(" ")}`), card);
    }
    const card = await Deno.readTextFile(`${dir}/run/policy/README.md`);
    const evaluation = await readJson(`${dir}/run/evaluation.json`);
    const mean: number = evaluation[0].reward_mean;
    const shown = Number.isInteger(mean) ? String(mean) : mean.toPrecision(4);
    assert.ok(card.includes(`| learner (trained) | ${shown} |`), card);
    const model = await loadCausalLM(`${dir}/run/policy`);
    assert.deepEqual(model.tokenizer!.encode("caf"), new ToyTokenizer().encode("caf"));
    model.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("savePolicyFolder() writes a T5 as a seq2seq folder: decoder start, beams, its own card", async () => {
  const dir = await Deno.makeTempDir();
  const T5_FIXTURE = new URL("../tests/fixtures/tiny-t5", import.meta.url).pathname;
  const model = await loadPolicy(T5_FIXTURE);
  try {
    const config = resolveConfig("commongen-small", []);
    await savePolicyFolder(model, model.tokenizer!, config, `${dir}/policy`, {
      command: "deno task train --preset commongen-small",
    });
    const generation = await readJson(`${dir}/policy/generation_config.json`);
    const c = (model as T5LM).config;
    assert.equal(generation.decoder_start_token_id, c.decoderStartTokenId);
    assert.equal(generation.pad_token_id, c.padTokenId);
    assert.equal(generation.eos_token_id, c.eosTokenId);
    assert.equal(generation.bos_token_id, undefined);
    // the preset evaluates with 5 beams, and the folder says so
    assert.equal(generation.do_sample, false);
    assert.equal(generation.num_beams, 5);
    assert.equal((await readJson(`${dir}/policy/tokenizer_config.json`)).model_max_length, 512);
    const card = await Deno.readTextFile(`${dir}/policy/README.md`);
    assert.match(card, /pipeline_tag: text2text-generation/);
    assert.match(card, /AutoModelForSeq2SeqLM/);
    assert.match(card, /T5 architecture \(relu\)/);
    assert.match(card, /Beam search with 5 beams/);
    // and it loads back as the same T5
    const again = await loadPolicy(`${dir}/policy`);
    try {
      assert.ok(again instanceof T5LM);
      assert.deepEqual(again.config, c);
    } finally {
      again.dispose();
    }
  } finally {
    model.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});

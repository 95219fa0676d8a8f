/**
 * `deno task pretrain`: trains the IMDB base model (cli/imdb_base.ts) and writes it, with its
 * model card and checksums, to a Hugging Face folder. The training resumes from its last
 * checkpoint when run again with the same `--work` folder.
 * @module
 */
import { InputError } from "../core/errors.ts";
import { initBackend } from "../models/backend.ts";
import { imdbDataDir } from "../tasks/download.ts";
import { localDataDir } from "./_cache.ts";
import { commandFlags, integerFlag } from "./flags.ts";
import { IMDB_BASE_RECIPE, imdbBaseCorpus, pretrainBase } from "./imdb_base.ts";

const HELP = `Usage: deno task pretrain [options]

Pretrains the IMDB base model (the default preset's zero-shot policy) as a language model on the
task's train split and any unlabelled reviews, checkpointing as it goes; run it again with the
same --work folder to resume. The finished model, its pretrain.json (recipe, held-out bits per
byte, time, checksums) and its model card go to --out.

Options:
  --data DIR             IMDB folder (else RLGF_DATA_DIR, ./data, ../shared/data, else downloaded)
  --out DIR              where the finished model goes (default assets/imdb-base)
  --work DIR             checkpoints, tokenizer and log.jsonl (default runs/pretrain-imdb-base)
  --steps N              training steps (default ${IMDB_BASE_RECIPE.steps}; another value is another recipe)
  --seed N               the seed (default ${IMDB_BASE_RECIPE.seed}; another value is another recipe)
  --checkpoint-every N   save and probe held-out bits per byte every N steps (default 200)
  --held-out N           held-out reviews in the final measurement (default all 1000)
  --stop-after N         end this sitting after step N (checkpointed); run again to resume
  -h, --help             this text`;

const values = commandFlags(Deno.args, {
  data: { type: "string" },
  out: { type: "string", default: "assets/imdb-base" },
  work: { type: "string", default: "runs/pretrain-imdb-base" },
  steps: { type: "string" },
  seed: { type: "string" },
  "checkpoint-every": { type: "string", default: "200" },
  "held-out": { type: "string" },
  "stop-after": { type: "string" },
}, HELP);

try {
  const recipe = {
    ...IMDB_BASE_RECIPE,
    steps: integerFlag("--steps", values.steps, 1) ?? IMDB_BASE_RECIPE.steps,
    seed: integerFlag("--seed", values.seed) ?? IMDB_BASE_RECIPE.seed,
  };
  const checkpointEvery = integerFlag("--checkpoint-every", values["checkpoint-every"], 1)!;
  const heldOutReviews = integerFlag("--held-out", values["held-out"], 1);
  const stopAfter = integerFlag("--stop-after", values["stop-after"], 1);
  await initBackend();
  const dataDir = await localDataDir(values.data ?? null, "imdb") ?? await imdbDataDir();
  const corpus = await imdbBaseCorpus(dataDir);
  const record = await pretrainBase({
    corpus,
    recipe,
    workDir: values.work,
    outDir: values.out,
    checkpointEvery,
    ...(heldOutReviews ? { heldOutReviews } : {}),
    ...(stopAfter ? { stopAfter } : {}),
  });
  if (!record) {
    console.log(
      `stopped after step ${stopAfter}; run the same command without --stop-after to go on`,
    );
    Deno.exit(0);
  }
  console.log(
    `${values.out}: held-out ${record.heldOut.bitsPerByte.toFixed(3)} bits per byte, ` +
      `${(record.seconds / 3600).toFixed(2)} h of training`,
  );
} catch (error) {
  if (error instanceof InputError || error instanceof RangeError) {
    console.error(`pretrain: ${(error as Error).message}`);
    Deno.exit(2);
  }
  throw error;
}
Deno.exit(0);

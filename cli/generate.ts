/**
 * `deno task generate --model DIR "prompt" ["prompt" ...]`: completions of a
 * Hugging Face GPT-2 or T5 folder (or a transformers.js ONNX folder), greedy by
 * default, sampled with `--sample` (seeded), or by beam search with `--num-beams`;
 * the folder's generation_config.json gives the defaults the flags override.
 * @module
 */
import { InputError } from "../core/errors.ts";
import { Rng } from "../core/prng.ts";
import { initBackend } from "../models/backend.ts";
import { loadPolicy } from "../models/t5_checkpoint.ts";
import { standalonePolicy } from "../models/engine/open.ts";
import { loadOnnxCausalLM } from "../models/onnx_causal_lm.ts";
import { loadTokenizer } from "../models/tokenizer.ts";
import {
  type GenerateOptions,
  promptIds,
  type TokenGenerator,
  type Tokenizer,
} from "../models/types.ts";
import { type CliIo, CONSOLE_IO, runCommand } from "./cli_io.ts";
import { exists } from "./_cache.ts";
import { FlagError, parseFlags } from "./flags.ts";

const HELP = `Usage: deno task generate --model DIR [options] "prompt" ["prompt" ...]

Prints a completion of each prompt (prompt text, then the generated text); a T5 folder
takes the prompt as its encoder input.

Options:
  --model DIR           a Hugging Face GPT-2 or T5 folder (config.json, model.safetensors,
                        tokenizer.json) or an ONNX one (config.json, onnx/model.onnx, tokenizer.json)
  --max-new-tokens N    tokens generated per prompt (default 32; fewer when EOS comes first)
  --min-new-tokens N    EOS is banned before this many tokens (default 0)
  --sample              sample instead of greedy decoding, with:
    --temperature T     softmax temperature (default 1)
    --top-k K           keep the K most likely tokens (default 0 = off)
    --top-p P           nucleus sampling (default 1 = off)
    --seed N            the sampling seed (default 0)
  --num-beams N         beam search with N beams (greedy when 1, the default)

Defaults come from the folder's generation_config.json when it has one (max_new_tokens,
min_new_tokens, do_sample, temperature, top_k, top_p, num_beams); flags override them.
  --json                one JSON object per prompt: prompt, completion, ids
  -h, --help            this text`;

/** One prompt's completion. */
export interface Completion {
  prompt: string;
  completion: string;
  /** The new token ids (EOS included when it ended the row; the text leaves it out). */
  ids: number[];
}

/** A loaded model and its tokenizer, from either folder layout. */
async function loadGenerator(
  dir: string,
): Promise<{ model: TokenGenerator; tokenizer: Tokenizer; dispose(): void }> {
  if (!(await exists(dir))) throw new InputError("model folder not found (--model)", dir);
  if (!(await exists(`${dir}/tokenizer.json`))) {
    throw new InputError("Missing tokenizer.json: the model folder must hold its tokenizer", dir);
  }
  const tfjs = await exists(`${dir}/model.safetensors`) ||
    await exists(`${dir}/model.safetensors.index.json`);
  if (!tfjs && await exists(`${dir}/onnx/model.onnx`)) {
    return {
      model: await loadOnnxCausalLM(dir),
      tokenizer: await loadTokenizer(dir),
      dispose() {},
    };
  }
  if (!tfjs) {
    throw new InputError("Missing model.safetensors (or onnx/model.onnx) in the model folder", dir);
  }
  const model = await loadPolicy(dir);
  const tokenizer = model.tokenizer;
  if (!tokenizer) {
    model.dispose();
    throw new InputError("Missing tokenizer.json in the model folder", dir);
  }
  const { policy, dispose } = await standalonePolicy(model);
  return { model: policy, tokenizer, dispose };
}

/** The decoding defaults of a folder's generation_config.json, as flag values (absent: none). */
async function configDefaults(dir: string): Promise<Record<string, string | boolean>> {
  const file = `${dir}/generation_config.json`;
  if (!(await exists(file))) return {};
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(await Deno.readTextFile(file));
  } catch (error) {
    throw new InputError(`not valid JSON (${(error as Error).message})`, file);
  }
  const defaults: Record<string, string | boolean> = {};
  const fields: [string, string][] = [
    ["max_new_tokens", "max-new-tokens"],
    ["min_new_tokens", "min-new-tokens"],
    ["num_beams", "num-beams"],
  ];
  if (json.do_sample === true) {
    defaults.sample = true;
    fields.push(["temperature", "temperature"], ["top_k", "top-k"], ["top_p", "top-p"]);
  }
  for (const [key, flag] of fields) {
    if (typeof json[key] === "number") defaults[flag] = String(json[key]);
  }
  return defaults;
}

function number(
  flag: string,
  text: string | undefined,
  check: (n: number) => boolean,
  what: string,
) {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (text.trim() === "" || !check(n)) {
    throw new FlagError(`flag ${flag}: expected ${what}, got "${text}"`);
  }
  return n;
}

/** Decoding options from the flags; sampling flags without --sample are an error. */
function decodingOptions(values: Record<string, string | boolean | undefined>): GenerateOptions {
  const str = (k: string) => values[k] as string | undefined;
  const int = (n: number) => Number.isInteger(n) && n >= 0;
  const maxNewTokens = number("--max-new-tokens", str("max-new-tokens"), int, "an integer >= 0") ??
    32;
  const minNewTokens = number("--min-new-tokens", str("min-new-tokens"), int, "an integer >= 0") ??
    0;
  const numBeams =
    number("--num-beams", str("num-beams"), (n) => int(n) && n >= 1, "an integer >= 1") ??
      1;
  if (!values.sample) {
    for (const flag of ["temperature", "top-k", "top-p", "seed"]) {
      if (values[flag] !== undefined) {
        throw new FlagError(`flag --${flag} only applies with --sample`);
      }
    }
    return { maxNewTokens, minNewTokens, doSample: false, numBeams };
  }
  if (numBeams > 1) {
    throw new FlagError("flag --num-beams: beam search does not combine with --sample");
  }
  const seed = number("--seed", str("seed"), int, "an integer >= 0") ?? 0;
  return {
    maxNewTokens,
    minNewTokens,
    doSample: true,
    temperature: number("--temperature", str("temperature"), (n) => n > 0, "a number > 0") ?? 1,
    topK: number("--top-k", str("top-k"), int, "an integer >= 0") ?? 0,
    topP: number("--top-p", str("top-p"), (n) => n > 0 && n <= 1, "a number in (0, 1]") ?? 1,
    rng: new Rng(seed).child("generate"),
  };
}

/**
 * Generates completions as the command line asks and prints them.
 * @param argv the arguments after `deno task generate`
 * @param io where completions (out) go
 * @returns the completions, or null when only help was printed
 */
export async function generate(
  argv: string[],
  io: CliIo = CONSOLE_IO,
): Promise<Completion[] | null> {
  const { values, positionals } = parseFlags(
    argv,
    {
      model: { type: "string" },
      "max-new-tokens": { type: "string" },
      "min-new-tokens": { type: "string" },
      sample: { type: "boolean" },
      temperature: { type: "string" },
      "top-k": { type: "string" },
      "top-p": { type: "string" },
      seed: { type: "string" },
      "num-beams": { type: "string" },
      json: { type: "boolean" },
    },
    { positionals: true },
  );
  if (values.help) {
    io.out(HELP);
    return null;
  }
  if (typeof values.model !== "string") {
    throw new FlagError(
      "flag --model is required: the model folder to generate with (--model DIR)",
    );
  }
  if (positionals.length === 0) {
    throw new FlagError('give at least one prompt, e.g. deno task generate --model DIR "Hello"');
  }
  const dir = values.model.replace(/\/+$/, "") || "/";
  // flags win over the folder's defaults; sampling defaults apply only when sampling
  const defaults = await configDefaults(dir);
  const flagged = Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined));
  const sampling = values.sample ?? defaults.sample ?? false;
  const merged = sampling ? { ...defaults, ...flagged } : {
    ...Object.fromEntries(
      Object.entries(defaults).filter(([k]) =>
        !["sample", "temperature", "top-k", "top-p"].includes(k)
      ),
    ),
    ...flagged,
  };
  const options = decodingOptions(merged);
  await initBackend();
  const loaded = await loadGenerator(dir);
  try {
    const inputs = positionals.map((p) => promptIds(loaded.tokenizer, p));
    const empty = inputs.findIndex((ids) => ids.length === 0);
    if (empty >= 0) throw new InputError(`prompt ${empty + 1} is empty`);
    const out = await loaded.model.generate(inputs, options);
    const eos = loaded.tokenizer.eosTokenId;
    const completions = positionals.map((prompt, i) => {
      // The text leaves out the EOS that ended a row; `ids` keep it.
      const shown = out[i].at(-1) === eos ? out[i].slice(0, -1) : out[i];
      return {
        prompt,
        completion: shown.length > 0 ? loaded.tokenizer.decode(shown) : "",
        ids: out[i],
      };
    });
    completions.forEach((c, i) => {
      if (values.json) io.out(JSON.stringify(c));
      // a decoder-only model continues the prompt; a seq2seq model's output is text of its own
      else if (loaded.model.seq2seq) io.out(`${i > 0 ? "\n" : ""}${c.prompt}\n-> ${c.completion}`);
      else io.out(`${i > 0 ? "\n" : ""}${c.prompt}${c.completion}`);
    });
    return completions;
  } finally {
    loaded.dispose();
  }
}

/**
 * The command: runs {@linkcode generate}, prints a one-line error for bad input.
 * @param argv the arguments
 * @param io where output goes
 * @returns the exit code (0 ok, 1 error)
 */
export function main(argv: string[], io: CliIo = CONSOLE_IO): Promise<number> {
  return runCommand(() => generate(argv, io), io);
}

if (import.meta.main) Deno.exit(await main(Deno.args));

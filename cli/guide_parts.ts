/**
 * Guides a config names by location rather than builds: another Hugging Face
 * GPT-2 or T5 folder (`guide.kind: dir`, frozen; on the run's engine when its
 * shape matches the learner's), an ONNX causal LM
 * folder (`onnx`, run by transformers.js), or an OpenAI-compatible completions
 * endpoint (`api`, text in and text out, re-tokenised by the learner's
 * tokenizer). Token-level guides must share the learner's vocabulary, since
 * switch points splice their tokens into the learner's trajectories.
 * @module
 */
import { parseHubId, resolveModelDir } from "../models/hub.ts";
import { ConfigError, InputError } from "../core/errors.ts";
import { loadPolicy } from "../models/t5_checkpoint.ts";
import { standalonePolicy } from "../models/engine/open.ts";
import { loadOnnxCausalLM } from "../models/onnx_causal_lm.ts";
import { textGuide } from "../models/text_guide.ts";
import { type ApiStats, completionsApi, type ResponseCache } from "../models/completions_api.ts";
import type { TokenGenerator, Tokenizer } from "../models/types.ts";
import type { RunConfig } from "./config.ts";

/** Where an API guide keeps its answers and counts (the run folder's, from train). */
export interface ApiGuideEnv {
  /** The run's response cache: a resumed run asks nothing twice. */
  cache?: ResponseCache;
  /** The run's interaction counts (requests, retries, tokens, cache hits). */
  stats?: ApiStats;
}

/** A guide and what to free with it. */
export interface LoadedGuide {
  guide: TokenGenerator;
  /** Models to dispose at the end (empty for guides that hold nothing). */
  owned: { dispose(): void }[];
}

/**
 * Loads the guide of a `dir`, `onnx` or `api` guide config.
 * @param config the run config (its `guide` section)
 * @param tokenizer the learner's tokenizer (an API guide's text is re-tokenised with it)
 * @param vocabSize the learner's vocabulary size, which a token-level guide must match
 * @param api an API guide's response cache and counts
 * @returns the guide, or null for kinds this function does not load (`bc`, `toy`, `none`)
 * @throws {ConfigError} when a required field is unset or the folder is missing
 * @throws {InputError} when the guide's vocabulary differs from the learner's
 */
export async function loadExternalGuide(
  config: RunConfig,
  tokenizer: Tokenizer,
  vocabSize: number,
  api: ApiGuideEnv = {},
): Promise<LoadedGuide | null> {
  const g = config.guide;
  if (g.kind === "api") {
    if (!g.apiUrl) throw new ConfigError("guide.apiUrl", 'must be set when guide.kind is "api"');
    if (!g.apiModel) {
      throw new ConfigError("guide.apiModel", 'must be set when guide.kind is "api"');
    }
    // the key stays in the environment: never in the config, the run folder or a log
    const apiKey = Deno.env.get(g.apiKeyEnv);
    const complete = completionsApi({
      url: g.apiUrl,
      model: g.apiModel,
      ...(apiKey ? { apiKey } : {}),
      kind: g.apiKind as "completions" | "chat",
      timeoutSeconds: g.timeoutSeconds,
      maxRetries: g.maxRetries,
      concurrency: g.concurrency,
      batchSize: g.batchSize,
      tokenIds: g.tokenIds,
      ...(api.cache ? { cache: api.cache } : {}),
      ...(api.stats ? { stats: api.stats } : {}),
    });
    return { guide: textGuide(complete, tokenizer), owned: [] };
  }
  if (g.kind !== "dir" && g.kind !== "onnx") return null;
  const dir = await requireFolder("guide.dir", g.dir, `a ${g.kind === "onnx" ? "ONNX " : ""}model`);
  const guideVocab = await configVocabSize(dir);
  if (guideVocab !== vocabSize) {
    throw new InputError(
      `The guide's vocab_size ${guideVocab} differs from the learner's ${vocabSize}: a token-level ` +
        `guide must share the learner's tokenizer (use guide.kind "api" for another vocabulary)`,
      `${dir}/config.json`,
    );
  }
  if (g.kind === "onnx") return { guide: await loadOnnxCausalLM(dir), owned: [] };
  const guide = await standalonePolicy(await loadPolicy(dir));
  return { guide: guide.policy, owned: [guide] };
}

/**
 * Checks that a config field names an existing folder.
 * @param field the dotted config field, for the error
 * @param dir its value
 * @param what what the folder should hold, for the error
 * @returns the folder without a trailing slash
 * @throws {ConfigError} naming the field when unset or missing
 */
export async function requireFolder(
  field: string,
  dir: string | null,
  what: string,
): Promise<string> {
  if (dir === null || dir === "") {
    throw new ConfigError(field, `must be set to the folder of ${what}`);
  }
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dir);
  } catch {
    // not a folder here: a hub id is fetched into the hub cache
    if (parseHubId(dir)) return await resolveModelDir(dir);
    throw new ConfigError(
      field,
      `folder "${dir}" does not exist (expected ${what}, or a hub id org/name[@revision])`,
    );
  }
  if (!info.isDirectory) {
    throw new ConfigError(field, `"${dir}" is not a folder (expected ${what})`);
  }
  return dir.replace(/\/+$/, "") || "/";
}

async function configVocabSize(dir: string): Promise<number> {
  const file = `${dir}/config.json`;
  let json: { vocab_size?: unknown };
  try {
    json = JSON.parse(await Deno.readTextFile(file));
  } catch (error) {
    throw new InputError(`cannot read config.json (${(error as Error).message})`, file);
  }
  if (typeof json.vocab_size !== "number") {
    throw new InputError(`field "vocab_size" must be a number`, file);
  }
  return json.vocab_size;
}

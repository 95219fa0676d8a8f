/**
 * The trained policy as a Hugging Face model folder: weights and config
 * (`savePolicy`: GPT-2 or T5), then the side files Hugging Face tools read
 * (`generation_config.json` with the run's decoding defaults, `tokenizer.json`,
 * `tokenizer_config.json` with `model_max_length`, `special_tokens_map.json`) and
 * a `README.md` model card: base model, algorithm, data, metrics and the command.
 * @module
 */
import { GPT2LM } from "../models/gpt2.ts";
import { T5LM } from "../models/t5.ts";
import { LlamaLM } from "../models/llama.ts";
import { saveLoraAdapters } from "../models/lora.ts";
import { type PolicyModel, savePolicy } from "../models/t5_checkpoint.ts";
import { writeHubFiles } from "../models/hub_files.ts";
import type { Tokenizer } from "../models/types.ts";
import type { RunConfig } from "./config.ts";

/** What a model card says beyond the config. */
export interface ModelCardFacts {
  /** The command that made the run, e.g. `deno task train --preset toy`. */
  command: string;
  /** Evaluation rows (evaluation.json), when the run has been evaluated. */
  evaluation?: Record<string, string | number>[];
  /** Iterations trained so far (a checkpoint's count). */
  iterations?: number;
  /** Training prompts used. */
  trainRecords?: number;
}

/** Quotes a command-line argument for a POSIX shell when it needs it. */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** The base model's description, from the policy section of the config. */
function baseModel(config: RunConfig, model: PolicyModel): string {
  const c = model.config;
  const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;
  const shape = "nPositions" in c
    ? `GPT-2 architecture, ${plural(c.nLayer, "layer")}, width ${c.nEmbd}, ${c.nHead} heads, ` +
      `context ${c.nPositions}, vocabulary ${c.vocabSize}`
    : "numKeyValueHeads" in c
    ? `${c.modelType} architecture, ${plural(c.numHiddenLayers, "layer")}, width ` +
      `${c.hiddenSize}, ${c.numAttentionHeads} heads (${c.numKeyValueHeads} key/value), ` +
      `intermediate ${c.intermediateSize}, vocabulary ${c.vocabSize}`
    : `T5 architecture (${c.feedForwardProj}), ${plural(c.numLayers, "encoder layer")} and ` +
      `${plural(c.numDecoderLayers, "decoder layer")}, width ${c.dModel}, ${c.numHeads} heads, ` +
      `d_ff ${c.dFf}, vocabulary ${c.vocabSize}`;
  if (config.policy.source === "dir") return `\`${config.policy.dir}\` (${shape})`;
  const objective = "dModel" in c ? "by span corruption" : "as a language model";
  const pretrained = config.policy.pretrainSteps > 0
    ? `pretrained here ${objective} for ${config.policy.pretrainSteps} steps on the task's ` +
      "training text"
    : "randomly initialised (not pretrained)";
  return `a small ${"nPositions" in c ? "GPT" : "T5"} built by rlgf, ${pretrained} (${shape})`;
}

const cell = (v: unknown) =>
  (typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toPrecision(4)) : String(v ?? ""))
    .replaceAll("|", "\\|");

/**
 * The `README.md` model card of a policy trained by a run.
 * @param config the run's resolved config
 * @param model the trained policy
 * @param facts the command, and the evaluation when there is one
 * @returns Markdown with YAML front matter
 */
export function modelCard(config: RunConfig, model: PolicyModel, facts: ModelCardFacts): string {
  const seq2seq = "dModel" in model.config;
  const t = config.train;
  const g = t.generation;
  const evaluation = facts.evaluation ?? [];
  const columns = [...new Set(evaluation.flatMap((r) => Object.keys(r)))];
  const metrics = evaluation.length === 0
    ? "Not evaluated yet (a checkpoint's copy; the run folder's `evaluation.json` has the final table)."
    : [
      `Held-out ${config.task.name} prompts (${config.task.evalRecords}), decoded with the ` +
      "defaults below:",
      "",
      `| ${columns.join(" | ")} |`,
      `| ${columns.map(() => "---").join(" | ")} |`,
      ...evaluation.map((r) => `| ${columns.map((c) => cell(r[c])).join(" | ")} |`),
    ].join("\n");
  const guide = config.guide.kind === "bc"
    ? "the base model fine-tuned by behaviour cloning on the task's references"
    : config.guide.kind === "none"
    ? "none"
    : `${config.guide.kind}${config.guide.dir ? ` (\`${config.guide.dir}\`)` : ""}`;
  return `---
library_name: transformers
pipeline_tag: ${seq2seq ? "text2text-generation" : "text-generation"}
tags:
  - rlgf
  - ${config.algo}
  - reinforcement-learning
---

# ${config.algo} policy for ${config.task.name} (rlgf)

A ${
    seq2seq
      ? "sequence-to-sequence"
      : "causal"
  } language model fine-tuned by rlgf with **${config.algo}**
(reinforcement learning from guided feedback, Chang et al. 2023), preset \`${config.preset}\`,
seed ${config.seed}${
    facts.iterations !== undefined ? `, after ${facts.iterations} iterations` : ""
  }.

## Base model

${baseModel(config, model)}. The KL penalty (coefficient ${t.kl.coef}, ${t.kl.kind}${
    t.kl.enabled ? "" : ", off"
  }) is taken against this model's initial weights.

## Training

- Algorithm: ${config.algo}; guide: ${guide}; reward: ${config.reward.kind}${
    config.reward.path ? ` (\`${config.reward.path}\`)` : ""
  }.
- Data: task \`${config.task.name}\`, ${
    facts.trainRecords ?? (config.task.trainRecords || "all")
  } training prompts${config.task.dataDir ? ` from \`${config.task.dataDir}\`` : ""}.
- ${t.iterations} iterations of ${t.trajectoriesPerUpdate} trajectories of up to ${g.maxNewTokens} tokens; learning rate ${t.learningRate} (linear decay), ${t.learner.epochs} PPO epochs of minibatch ${t.learner.minibatchSize}, clip ${t.learner.clipRange}, γ ${t.gamma}, λ ${t.lambda}.
- Prompts are left-truncated to ${t.maxPromptTokens} tokens.

## Evaluation

${metrics}

## Decoding defaults (generation_config.json)

${
    config.evaluation.doSample
      ? `Sampling with top-k ${g.topK} (0 = off), top-p ${g.topP}, temperature ${g.temperature}`
      : config.evaluation.numBeams > 1
      ? `Beam search with ${config.evaluation.numBeams} beams (as evaluated; training sampled with top-k ${g.topK}, temperature ${g.temperature})`
      : `Greedy decoding (as evaluated; training sampled with top-k ${g.topK}, temperature ${g.temperature})`
  }, ${g.maxNewTokens} new tokens at most, ${g.minNewTokens} at least${
    g.stopAtEos === false ? ", no stop at EOS" : ""
  }.

## How it was made

\`\`\`sh
${facts.command}
\`\`\`

The run folder's \`config.json\` holds every setting (a valid \`--config\` file).

## Use

\`\`\`python
from transformers import ${
    seq2seq ? "AutoModelForSeq2SeqLM" : "AutoModelForCausalLM"
  }, AutoTokenizer
model = ${
    seq2seq ? "AutoModelForSeq2SeqLM" : "AutoModelForCausalLM"
  }.from_pretrained("path/to/this/folder")
tokenizer = AutoTokenizer.from_pretrained("path/to/this/folder")
\`\`\`

or \`deno task generate --model path/to/this/folder "a prompt"\`.
`;
}

/** Where a LoRA policy's base is and whether to write its merged model too. */
export interface LoraFolders {
  /** The base model's folder (absolute): the adapter's `base_model_name_or_path`. */
  baseDir?: string;
  /** Also write the merged model to `<dir>-merged` (the run's `policy-merged/`). */
  merged?: boolean;
  /** Write the merged model to `dir` itself, not the adapter. */
  full?: boolean;
}

/**
 * Saves a LoRA policy's frozen base as a Hugging Face folder (when it came from no folder).
 * @param model the adapted model
 * @param dir the folder
 */
export async function saveLoraBase(model: PolicyModel, dir: string): Promise<void> {
  // a plain view of the shared weights, only read here (never disposed: the views own them)
  const base = model instanceof GPT2LM
    ? new GPT2LM(model.config, model.weights)
    : model instanceof LlamaLM
    ? new LlamaLM(model.config, model.weights)
    : new T5LM(model.config, model.weights);
  base.tokenizer = model.tokenizer;
  await savePolicy(base, dir);
}

/**
 * Saves a run's policy as a complete Hugging Face folder (weights, config, tokenizer,
 * generation defaults, model card); every file is written atomically.
 * @param model the policy
 * @param tokenizer the run's tokenizer (its files are written when the model has none)
 * @param config the run's resolved config
 * @param dir the folder
 * @param facts the model card's command and evaluation
 * @param lora a LoRA policy's base folder and whether to write the merged model (a LoRA policy
 *   folder holds PEFT's adapter files; the merged model goes to `<dir>-merged`)
 */
export async function savePolicyFolder(
  model: PolicyModel,
  tokenizer: Tokenizer,
  config: RunConfig,
  dir: string,
  facts: ModelCardFacts,
  lora: LoraFolders = {},
): Promise<void> {
  if (model.lora && !lora.full) {
    if (!lora.baseDir) throw new Error("A LoRA policy folder needs its base folder");
    await saveLoraAdapters(model.lora, dir, lora.baseDir);
    await writeHubFiles(dir, model.config, { modelCard: modelCard(config, model, facts) });
    if (lora.merged) {
      await savePolicyFolder(model, tokenizer, config, `${dir}-merged`, facts, { full: true });
    }
    return;
  }
  await savePolicy(model, dir); // a LoRA model is saved merged
  const hub = (tokenizer as { hubFiles?: () => Record<string, Record<string, unknown>> })
    .hubFiles;
  await writeHubFiles(dir, model.config, {
    // the decoding the run was evaluated with (CommonGen: 5 beams), sampling settings as trained
    generation: { ...config.train.generation, ...config.evaluation },
    tokenizerFiles: typeof hub === "function" ? hub.call(tokenizer) : undefined,
    padTokenId: tokenizer.padTokenId,
    modelCard: modelCard(config, model, facts),
  });
}

/**
 * The learner's side of remote roll-outs: its LoRA adapter written to the run folder whenever a
 * gradient step changed it (`RUN/rollout_adapters/vN`, PEFT's files, the last two kept), for the
 * servers to load by path before the next roll-outs.
 * @module
 */
import type { GPT2LM } from "../models/gpt2.ts";
import { saveLoraAdapters } from "../models/lora.ts";
import type { AdapterUpdate } from "../models/remote_rollouts.ts";

/**
 * A source of adapter updates for a {@linkcode RemoteGenerator}.
 * @param learner the adapted learner
 * @param dir where the versions go (absolute: the servers read it)
 * @param baseDir the adapters' `base_model_name_or_path`
 * @returns a function giving the new adapter when the learner changed since the last call
 */
export function adapterPublisher(
  learner: GPT2LM,
  dir: string,
  baseDir: string,
): () => Promise<AdapterUpdate | null> {
  let version = -1;
  let seen: unknown[] = [];
  // names unique to this process: a server may still hold another run's rlgf-vN
  const run = crypto.randomUUID().slice(0, 8);
  return async () => {
    const lora = learner.lora;
    if (!lora) throw new Error("Remote roll-outs need a LoRA learner");
    // an optimizer step assigns new data to each variable: compare the data ids
    const now = lora.variables().map((v) => (v as unknown as { dataId: unknown }).dataId);
    if (now.length === seen.length && now.every((id, i) => id === seen[i])) return null;
    seen = now;
    version++;
    const path = `${dir}/v${version}`;
    await saveLoraAdapters(lora, path, baseDir);
    await Deno.remove(`${dir}/v${version - 2}`, { recursive: true }).catch(() => {});
    return { name: `rlgf-${run}-v${version}`, path };
  };
}

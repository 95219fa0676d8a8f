/**
 * What a checkpoint holds beyond the Hugging Face folder of the policy: every
 * trained variable (learner, critics, reference), the optimizers' moments and
 * step counts, the KL coefficient and the iteration. Random streams need no
 * saving: every stage derives its stream from the seed, the iteration and the
 * batch index (stages/_rng.ts), so a resumed run draws what the first would have.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { InputError } from "../core/errors.ts";
import { writeJsonAtomic } from "../core/atomic.ts";
import { type HostTensor, readSafetensors, writeSafetensors } from "../models/safetensors.ts";
import type { AdamW } from "../stages/adamw.ts";
import type { AlgorithmState } from "../pipelines/state.ts";

/** The scalar part of a checkpoint. */
export interface TrainState {
  /** Iterations finished (the next one to run). */
  iteration: number;
  klCoef: number;
  optimizerSteps: Record<string, number>;
}

function groups(state: AlgorithmState): Map<string, readonly tf.Variable[]> {
  const out = new Map<string, readonly tf.Variable[]>();
  out.set("learner", state.learner.trainableVariables());
  if (state.reference) out.set("reference", state.reference.trainableVariables());
  for (const [name, critic] of Object.entries(state.critics)) {
    if (critic) out.set(`critic.${name}`, critic.trainableVariables());
  }
  return out;
}

function optimizers(state: AlgorithmState): Map<string, AdamW> {
  const out = new Map<string, AdamW>([["learner", state.optimizers.learner]]);
  for (const [name, opt] of Object.entries(state.optimizers.critics)) {
    if (opt) out.set(`critic.${name}`, opt);
  }
  return out;
}

/** Writes `state.safetensors` and `state.json` of the algorithm state into `dir`. */
export async function saveTrainState(
  state: AlgorithmState,
  iteration: number,
  dir: string,
): Promise<void> {
  const tensors = new Map<string, HostTensor>();
  // Variables are listed by position: names of tf.Variables are not stable across runs.
  for (const [group, variables] of groups(state)) {
    variables.forEach((v, i) =>
      tensors.set(`${group}/${i}`, { shape: [...v.shape], data: v.dataSync() as Float32Array })
    );
  }
  const steps: Record<string, number> = {};
  for (const [name, opt] of optimizers(state)) {
    const saved = opt.getState();
    steps[name] = saved.step;
    opt.variables.forEach((v, i) => {
      tensors.set(`optimizer.${name}/m/${i}`, { shape: [...v.shape], data: saved.m[i] });
      tensors.set(`optimizer.${name}/v/${i}`, { shape: [...v.shape], data: saved.v[i] });
    });
  }
  await writeSafetensors(`${dir}/state.safetensors`, tensors);
  const scalars: TrainState = { iteration, klCoef: state.klCoef, optimizerSteps: steps };
  await writeJsonAtomic(`${dir}/state.json`, scalars);
}

/** Restores a checkpoint written by {@linkcode saveTrainState} into a freshly built state. */
export async function loadTrainState(state: AlgorithmState, dir: string): Promise<TrainState> {
  const file = `${dir}/state.safetensors`;
  let scalars: TrainState;
  try {
    scalars = JSON.parse(await Deno.readTextFile(`${dir}/state.json`));
  } catch (error) {
    throw new InputError(
      `cannot read the checkpoint (${(error as Error).message})`,
      `${dir}/state.json`,
    );
  }
  const tensors = await readSafetensors(file);
  const take = (key: string, shape: readonly number[]): Float32Array => {
    const t = tensors.get(key);
    if (!t) {
      throw new InputError(
        `tensor "${key}" is missing; the checkpoint belongs to another config`,
        file,
      );
    }
    if (t.shape.join() !== shape.join()) {
      throw new InputError(`tensor "${key}" has shape [${t.shape}], expected [${shape}]`, file);
    }
    return t.data;
  };
  tf.tidy(() => {
    for (const [group, variables] of groups(state)) {
      variables.forEach((v, i) => v.assign(tf.tensor(take(`${group}/${i}`, v.shape), v.shape)));
    }
  });
  for (const [name, opt] of optimizers(state)) {
    opt.setState({
      step: scalars.optimizerSteps[name] ?? 0,
      m: opt.variables.map((v, i) => take(`optimizer.${name}/m/${i}`, v.shape)),
      v: opt.variables.map((v, i) => take(`optimizer.${name}/v/${i}`, v.shape)),
    });
  }
  state.klCoef = scalars.klCoef;
  return scalars;
}

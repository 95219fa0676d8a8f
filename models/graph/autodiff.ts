/**
 * Reverse-mode differentiation of builder graphs, and the split of a
 * differentiated graph into the two ONNX models a training step runs: a
 * forward that also returns what the backward reads, and a backward from those
 * saved values and the outputs' gradients to the gradients of the weights.
 * @module
 */
import { type Graph, isFloat, type Op, type Value } from "./builder.ts";
import { RULES } from "./vjp.ts";

/**
 * Emits the backward nodes of `seeds` (each an output and the value holding its
 * gradient) with respect to `wrt`; returns each `wrt` value's gradient, or null
 * where no seeded output depends on it.
 */
export function grad(
  g: Graph,
  seeds: readonly (readonly [Value, Value])[],
  wrt: readonly Value[],
): (Value | null)[] {
  const ops: Op[] = [...g.ops];
  // values that depend on wrt, and values the seeded outputs depend on
  const active = new Set(wrt.map((v) => v.name));
  for (const op of ops) {
    if (!op.inputs.some((v) => active.has(v.name))) continue;
    for (const o of op.outputs) if (isFloat(o.dtype)) active.add(o.name);
  }
  const relevant = new Set(seeds.map(([o]) => o.name));
  for (let i = ops.length - 1; i >= 0; i--) {
    if (!ops[i].outputs.some((o) => relevant.has(o.name))) continue;
    for (const v of ops[i].inputs) relevant.add(v.name);
  }

  const pending = new Map<string, Value[]>();
  const contribute = (v: Value, d: Value) => {
    if (d.dtype !== v.dtype) {
      throw new TypeError(`Gradient of "${v.name}" is ${d.dtype}, expected ${v.dtype}`);
    }
    pending.set(v.name, [...(pending.get(v.name) ?? []), d]);
  };
  const total = (v: Value): Value | null => {
    const parts = pending.get(v.name);
    if (!parts) return null;
    const sum = g.sum(parts);
    pending.set(v.name, [sum]);
    return sum;
  };
  for (const [output, seed] of seeds) contribute(output, seed);

  for (let i = ops.length - 1; i >= 0; i--) {
    const op = ops[i];
    const dOutputs = op.outputs.map(total);
    if (dOutputs.every((d) => d === null)) continue;
    const needs = op.inputs.map((v) =>
      isFloat(v.dtype) && active.has(v.name) && relevant.has(v.name)
    );
    if (!needs.some(Boolean)) continue;
    const rule = op.rule ?? RULES[op.node!.op];
    if (!rule) {
      throw new Error(`No gradient rule for ${op.node!.op} (output "${op.outputs[0].name}")`);
    }
    const dInputs = rule(g, {
      inputs: op.inputs,
      outputs: op.outputs,
      node: op.node,
      dOutputs,
      needs,
    });
    dInputs.forEach((d, j) => {
      if (d && needs[j]) contribute(op.inputs[j], d);
    });
  }
  return wrt.map(total);
}

/** What {@linkcode trainingModels} builds. */
export interface TrainingModels {
  /** The forward model: `outputs`, then the saved values (by name). */
  forward: Uint8Array;
  /** The backward model: saved values, inputs it reads and the seeds → `grad.<name>` per wrt. */
  backward: Uint8Array;
  /** Names of the values the forward saves for the backward. */
  saved: string[];
  /** Names of the backward's inputs that are graph inputs (weights, targets, seeds). */
  backwardInputs: string[];
  /** Per wrt value, the backward output holding its gradient (null: it gets none). */
  gradients: (string | null)[];
}

/**
 * Differentiates `outputs` (seeded by `seeds`, graph inputs holding their
 * gradients) with respect to `wrt` and splits the graph in two. The backward
 * keeps only what it reads: saved forward values, and no forward node is run
 * twice except where a rule recomputes cheap elementwise work or a LayerNorm
 * of a saved input runs again instead of being kept; int64 shape arithmetic of
 * the backward runs in the forward so only its small results are saved.
 */
export function trainingModels(g: Graph, spec: {
  name: string;
  inputs: readonly Value[];
  outputs: readonly Value[];
  seeds: readonly Value[];
  wrt: readonly Value[];
}): TrainingModels {
  const boundary = g.nodes.length;
  const grads = grad(g, spec.outputs.map((o, i) => [o, spec.seeds[i]] as const), spec.wrt)
    .map((d, i) => (d ? g.name(d, `grad.${spec.wrt[i].name}`) : null));
  const results = grads.filter((d): d is Value => d !== null);

  // Backward nodes that only do shape arithmetic on forward values run in the forward.
  const inputNames = new Set([...g.inputs.keys()]);
  const forwardValues = new Set<string>();
  for (const node of g.nodes.slice(0, boundary)) {
    for (const o of node.outputs) forwardValues.add(o.name);
  }
  const known = (v: Value) =>
    forwardValues.has(v.name) || inputNames.has(v.name) || g.constants.has(v.name);
  const seeded = new Set(spec.seeds.map((s) => s.name));
  for (const node of g.nodes.slice(boundary)) {
    if (node.inputs.some((v) => seeded.has(v.name))) {
      for (const o of node.outputs) seeded.add(o.name);
    } else if (node.outputs.every((o) => o.dtype === "int64") && node.inputs.every(known)) {
      for (const o of node.outputs) forwardValues.add(o.name);
    }
  }

  const backwardNodes = g.prune(results, new Set([...inputNames, ...forwardValues]));
  const saved = new Map<string, Value>();
  const readInputs = new Map<string, Value>();
  const classify = (v: Value) => {
    if (forwardValues.has(v.name)) saved.set(v.name, v);
    else if (inputNames.has(v.name)) readInputs.set(v.name, v);
  };
  for (const node of backwardNodes) node.inputs.forEach(classify);
  results.forEach(classify);
  // A LayerNorm whose input is saved anyway is cheaper to run again in the backward than to
  // keep: its output and statistics leave the saved set and the backward recomputes them.
  for (const node of new Set([...saved.values()].map((v) => g.producer.get(v.name)))) {
    if (node?.op !== "LayerNormalization" || spec.outputs.some((o) => node.outputs.includes(o))) {
      continue;
    }
    const [x, ...params] = node.inputs;
    if (!saved.has(x.name) || !params.every((p) => inputNames.has(p.name))) continue;
    for (const o of node.outputs) {
      saved.delete(o.name);
      forwardValues.delete(o.name);
    }
    params.forEach(classify);
  }
  const savedValues = [...saved.values()];
  const extra = savedValues.filter((v) => !spec.outputs.includes(v));
  const undeclared = (value: Value) => ({ value, declare: false as const });
  const forward = g.model({
    name: `${spec.name}_forward`,
    inputs: spec.inputs,
    outputs: [...spec.outputs, ...extra.map(undeclared)],
  });
  const backwardInputs = [...readInputs.values()];
  const backward = g.model({
    name: `${spec.name}_backward`,
    inputs: [...savedValues.map(undeclared), ...backwardInputs],
    outputs: results,
  });
  const gradients = grads.map((d) => d?.name ?? null);
  return {
    forward,
    backward,
    saved: savedValues.map((v) => v.name),
    backwardInputs: backwardInputs.map((v) => v.name),
    gradients,
  };
}

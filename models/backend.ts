/**
 * Picks the TensorFlow.js backend: wasm by default (loads offline from
 * node_modules, SIMD on), the pure-JS cpu backend on request, and tfjs-node
 * only when the user has installed it (nothing here requires it).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-wasm";
import { createRequire } from "node:module";
import {
  fastKernelsRegistered,
  registerFastKernels,
  unregisterFastKernels,
} from "../kernels/register.ts";

/** The backends {@linkcode initBackend} can select. */
export type BackendName = "wasm" | "cpu" | "tensorflow";

const BACKENDS: readonly BackendName[] = ["wasm", "cpu", "tensorflow"];

/**
 * Selects and readies a backend. Without a name it reads the `RLGF_BACKEND`
 * environment variable, then falls back to wasm. On wasm it registers our SIMD
 * kernels (kernels/register.ts: batched products with any transpose flags,
 * exp, tanh, pow, sums, the embedding gradient) unless `fastKernels` is false or
 * `RLGF_FAST_KERNELS=0`: tfjs-wasm runs those on a scalar path otherwise.
 * @param name the backend to use
 * @param options whether to register our wasm kernels (default true)
 * @returns the name of the backend now active
 */
export async function initBackend(
  name?: BackendName,
  options: { fastKernels?: boolean } = {},
): Promise<BackendName> {
  const chosen = name ?? readEnvBackend() ?? "wasm";
  if (!BACKENDS.includes(chosen)) {
    throw new RangeError(`Unknown backend "${chosen}", expected one of ${BACKENDS.join(", ")}`);
  }
  if (chosen === "tensorflow") loadTfjsNode();
  if (tf.getBackend() !== chosen) {
    const ok = await tf.setBackend(chosen);
    if (!ok) throw new Error(`TensorFlow.js backend "${chosen}" failed to initialise`);
  }
  await tf.ready();
  const wanted = options.fastKernels ?? readEnv("RLGF_FAST_KERNELS") !== "0";
  if (chosen === "wasm" && wanted && !fastKernelsRegistered()) await registerFastKernels();
  if (chosen === "wasm" && !wanted && fastKernelsRegistered()) unregisterFastKernels();
  return chosen;
}

let firstUse: Promise<BackendName> | undefined;

/**
 * Readies a backend once, on first use, for the library's asynchronous
 * loaders (`loadCausalLM`, `loadValueModel`): when no backend has
 * been chosen yet it runs {@linkcode initBackend} with its defaults
 * (`RLGF_BACKEND`, else wasm); when one has (a call to `initBackend` or
 * `tf.setBackend`), it waits for that one and changes nothing. So
 * `await loadCausalLM(dir)` works as a program's first call.
 * @returns the name of the active backend
 */
export async function ensureBackend(): Promise<string> {
  const active = tf.getBackend();
  if (active) {
    await tf.ready();
    return tf.getBackend();
  }
  firstUse ??= initBackend().catch((error) => {
    firstUse = undefined; // a later call may try again (e.g. after fixing RLGF_BACKEND)
    throw error;
  });
  return await firstUse;
}

function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // no --allow-env: behave as if unset
  }
}

function readEnvBackend(): BackendName | undefined {
  let value: string | undefined;
  try {
    value = Deno.env.get("RLGF_BACKEND");
  } catch {
    return undefined; // no --allow-env: behave as if unset
  }
  if (value === undefined || value === "") return undefined;
  if (!BACKENDS.includes(value as BackendName)) {
    throw new RangeError(
      `RLGF_BACKEND must be one of ${BACKENDS.join(", ")}, got "${value}"`,
    );
  }
  return value as BackendName;
}

function loadTfjsNode(): void {
  // Only a copy already in node_modules is used (e.g. after `deno add npm:@tensorflow/tfjs-node`):
  // require() never downloads, where a dynamic npm: import would fetch it and edit deno.lock.
  const require = createRequire(import.meta.url);
  try {
    require("@tensorflow/tfjs-node");
  } catch (error) {
    throw new Error(
      `Backend "tensorflow" needs @tensorflow/tfjs-node in node_modules, which could not be loaded: ${
        (error as Error).message.split("\n")[0]
      }`,
    );
  }
}

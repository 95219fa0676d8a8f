/**
 * Where the datasets live: a flag, else the `RLGF_DATA_DIR` environment variable.
 * @module
 */

/** The environment variable naming the data folder. */
export const DATA_DIR_ENV = "RLGF_DATA_DIR";

/**
 * Resolves the data folder from a flag value, else `RLGF_DATA_DIR`.
 * @param flag the `--data` flag's value, if given
 * @returns the folder, or undefined when neither is set (callers may then download)
 */
export function resolveDataDir(flag?: string): string | undefined {
  if (flag !== undefined && flag !== "") return flag.replace(/\/+$/, "") || "/";
  let fromEnv: string | undefined;
  try {
    fromEnv = Deno.env.get(DATA_DIR_ENV);
  } catch {
    // No --allow-env: behave as if unset.
    fromEnv = undefined;
  }
  return fromEnv ? fromEnv.replace(/\/+$/, "") || "/" : undefined;
}

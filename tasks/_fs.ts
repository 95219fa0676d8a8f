/**
 * Small file-system helpers shared by the loaders (not part of the public API).
 * @module
 */

/** Whether a path exists (file or folder). */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

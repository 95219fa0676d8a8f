/**
 * The machine a measurement ran on, for the records benchmarks and trainings leave.
 * @module
 */

/** The CPU's model name from /proc/cpuinfo, or "unknown" where there is none. */
export async function cpuModelName(): Promise<string> {
  try {
    const info = await Deno.readTextFile("/proc/cpuinfo");
    return info.match(/model name\s*:\s*(.+)/)?.[1]?.trim() ?? "unknown";
  } catch {
    return "unknown";
  }
}

/**
 * Test helper for tests/faults_test.ts: writes checkpoint `iter-NNNNNN` of the run folder
 * `Deno.args[0]` (iteration `Deno.args[1]`) through `writeCheckpoint`, prints "filling"
 * half-way through and then hangs, so the test can SIGKILL it mid-write.
 * @module
 */
import { writeCheckpoint } from "../cli/run_dir.ts";

const [dir, iteration] = Deno.args;
await writeCheckpoint(dir, Number(iteration), async (tmp) => {
  await Deno.writeTextFile(`${tmp}/state.json`, '{"iteration":');
  await Deno.writeFile(`${tmp}/state.safetensors`, new Uint8Array(1 << 16));
  console.log("filling");
  await new Promise(() => {}); // killed here
});

/**
 * Worker side of the kernel thread pool (kernels/thread_pool.ts): instantiates the shared-memory
 * build of kernels/gemm.c on the pool's memory, then sleeps on the job counter and, per job, claims
 * chunks of the product until none are left (see claimChunk for why a late wake-up is safe). The protocol lives in shared memory so that the main
 * thread can hand out work and wait for it synchronously, as tfjs kernels must.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { instantiateGemm } from "./gemm_module.ts";
import {
  chunkRange,
  claimChunk,
  CTRL_BYTES,
  CTRL_DONE,
  CTRL_JOB,
  CTRL_OWNERS,
  CTRL_SEQ,
  CTRL_STOP,
  JOB_FIELDS,
} from "./thread_protocol.ts";

self.onmessage = (event: MessageEvent) => {
  const { memory, module, scratch } = event.data as {
    memory: WebAssembly.Memory;
    module: WebAssembly.Module;
    scratch: number;
  };
  const gemm = instantiateGemm(memory, module);
  const ctrl = new Int32Array(memory.buffer, 0, CTRL_BYTES / 4);
  let seen = Atomics.load(ctrl, CTRL_SEQ);
  self.postMessage("ready");
  for (;;) {
    Atomics.wait(ctrl, CTRL_SEQ, seen);
    seen = Atomics.load(ctrl, CTRL_SEQ);
    if (Atomics.load(ctrl, CTRL_STOP) !== 0) break;
    const job = Object.fromEntries(
      JOB_FIELDS.map((name, i) => [name, ctrl[CTRL_JOB + i]]),
    ) as Record<
      (typeof JOB_FIELDS)[number],
      number
    >;
    const { batch, m, n, k, bsa, rsa, csa, bsb, rsb, csb } = job;
    const cut = { byBatch: job.byBatch === 1, chunk: job.chunk, chunks: job.chunks };
    for (;;) {
      const index = claimChunk(ctrl, seen, cut.chunks);
      if (index < 0) break;
      ctrl[CTRL_OWNERS + index] = 1;
      const [b0, b1, m0, m1] = chunkRange(cut, index, batch, m);
      const [a, b, c] = [job.a >>> 0, job.b >>> 0, job.c >>> 0];
      gemm.gemm_batched(b0, b1, m0, m1, m, n, k, a, bsa, rsa, csa, b, bsb, rsb, csb, c, scratch);
      Atomics.add(ctrl, CTRL_DONE, 1);
      Atomics.notify(ctrl, CTRL_DONE);
    }
  }
  self.close();
};

/**
 * Layout of the control words at the start of the kernel pool's shared memory (Int32 indices), and
 * how a product is cut into chunks that the threads take in turn.
 *
 * @module
 */

/** Job counter: the main thread increments it to wake the workers. */
export const CTRL_SEQ = 0;
/** Chunks of the current job finished (by any thread). */
export const CTRL_DONE = 1;
/** Set to 1 to make the workers exit. */
export const CTRL_STOP = 2;
/**
 * The next chunk to take, tagged with the job: (job & 0xffff) << 16 | chunk. Threads claim chunks
 * with compare-and-swap, so a worker that wakes late can never claim a chunk of a newer job with
 * the fields of an older one.
 */
export const CTRL_NEXT = 3;
/** First of the job's words: see {@link JOB_FIELDS}. */
export const CTRL_JOB = 8;
/** The job's words, in order, from CTRL_JOB. */
export const JOB_FIELDS = [
  "batch",
  "m",
  "n",
  "k",
  "a",
  "bsa",
  "rsa",
  "csa",
  "b",
  "bsb",
  "rsb",
  "csb",
  "c",
  "byBatch",
  "chunk",
  "chunks",
] as const;
/** First word of the per-chunk owner flags (1 when a worker computed the chunk). */
export const CTRL_OWNERS = 64;
/** Bytes reserved for the control words. */
export const CTRL_BYTES = 4096;
/** Most chunks one product is cut into (the owner flags must fit in the control words). */
export const MAX_CHUNKS = CTRL_BYTES / 4 - CTRL_OWNERS;

/** A product cut into chunks of whole batches, or of rows when there is one batch. */
export interface Chunking {
  /** Whether chunks are batches (else rows). */
  byBatch: boolean;
  /** Batches or rows per chunk. */
  chunk: number;
  /** Number of chunks. */
  chunks: number;
}

/**
 * Cuts `batch` matrices of `m` rows into about `target` chunks (rows in multiples of 4, the micro
 * kernel's height).
 *
 * @param batch number of matrices
 * @param m rows per matrix
 * @param target wanted number of chunks
 * @returns the chunking
 */
export function chunking(batch: number, m: number, target: number): Chunking {
  const want = Math.min(target, MAX_CHUNKS);
  if (batch >= 2) {
    const chunk = Math.ceil(batch / want);
    return { byBatch: true, chunk, chunks: Math.ceil(batch / chunk) };
  }
  const chunk = Math.max(4, Math.ceil(m / want / 4) * 4);
  return { byBatch: false, chunk, chunks: Math.ceil(m / chunk) };
}

/**
 * gemm_batched's range arguments [b0, b1, m0, m1] of chunk `index`.
 *
 * @param c the chunking
 * @param index the chunk
 * @param batch number of matrices
 * @param m rows per matrix
 * @returns the batch and row ranges
 */
export function chunkRange(c: Chunking, index: number, batch: number, m: number): number[] {
  const lo = index * c.chunk;
  if (c.byBatch) return [lo, Math.min(batch, lo + c.chunk), 0, m];
  return [0, batch, lo, Math.min(m, lo + c.chunk)];
}

/**
 * Claims the next chunk of job `seq`, or returns -1 when its chunks are all taken or the job is no
 * longer current.
 *
 * @param ctrl the control words
 * @param seq the job's number (CTRL_SEQ when it was posted)
 * @param chunks the job's number of chunks
 * @returns the chunk index, or -1
 */
export function claimChunk(ctrl: Int32Array, seq: number, chunks: number): number {
  const tag = seq & 0xffff;
  for (;;) {
    const next = Atomics.load(ctrl, CTRL_NEXT);
    const index = next & 0xffff;
    if (next >>> 16 !== tag || index >= chunks) return -1;
    if (Atomics.compareExchange(ctrl, CTRL_NEXT, next, next + 1) === next) return index;
  }
}

/**
 * The CTRL_NEXT word that opens job `seq` at chunk 0.
 *
 * @param seq the job's number
 * @returns the tagged word
 */
export function openJob(seq: number): number {
  return (seq & 0xffff) << 16;
}

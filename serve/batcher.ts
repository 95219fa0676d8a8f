/**
 * A queue that turns many clients' generation requests into shared forward passes: jobs wait
 * a short time for company, then every queued job with the same decoding settings (up to a
 * number of rows) is decoded in one batch. Each row brings its own random stream, length and
 * stop test, so a row's output does not depend on the rows it shares a batch with.
 * @module
 */
import type { Rng } from "../core/prng.ts";
import type { TokenGenerator } from "../models/types.ts";

/** The settings rows must share to be decoded in one batch. */
export interface DecodingSettings {
  /** Sample (true) or greedy (false). */
  doSample: boolean;
  /** Softmax temperature when sampling. */
  temperature: number;
  /** Nucleus mass (1 = off). */
  topP: number;
  /** Top-k (0 = off). */
  topK: number;
  /** The token that ends a row (null: none). */
  eosTokenId: number | null;
}

/** One request's rows. */
export interface GenerationJob {
  /** Prompt token ids per row. */
  prompts: number[][];
  /** New tokens per row at most. */
  maxNewTokens: number[];
  /** New tokens per row before EOS is allowed (0 when absent). */
  minNewTokens?: number[];
  /** One random stream per row (required when sampling). */
  rngs?: Rng[];
  /** Ends a row early (e.g. on a stop string): the row's index in this job and its tokens. */
  stop?: (row: number, newTokens: readonly number[]) => boolean;
  /** Decoding settings, shared by every row of a batch. */
  settings: DecodingSettings;
}

/** Limits of a {@linkcode GenerationQueue}. */
export interface GenerationQueueOptions {
  /** Rows decoded together at most (a single larger job still runs, alone). @default 32 */
  maxBatchRows?: number;
  /**
   * How long to wait for company, in ms: a batch starts once no job has come for this long
   * (or after ten times as long since the queue could start one, or when it is full). After a
   * batch, the clients it answered send their next requests a moment later; waiting for that
   * gap to close puts them in one batch instead of two half batches. @default 5
   */
  maxWaitMs?: number;
  /** Rows waiting at most; a job beyond it is refused with {@linkcode QueueFullError}. @default 1024 */
  maxQueuedRows?: number;
}

/** Counts since the queue opened. */
export interface GenerationQueueStats {
  /** Batches decoded. */
  batches: number;
  /** Rows decoded. */
  rows: number;
  /** Jobs refused because the queue was full. */
  refused: number;
}

/** A job refused because the queue holds `maxQueuedRows` rows already. */
export class QueueFullError extends Error {
  /**
   * Builds the error.
   * @param queuedRows rows waiting when the job came
   */
  constructor(readonly queuedRows: number) {
    super(`the generation queue is full (${queuedRows} rows waiting)`);
    this.name = "QueueFullError";
  }
}

interface Waiting {
  job: GenerationJob;
  key: string;
  since: number;
  resolve(tokens: number[][]): void;
  reject(error: unknown): void;
}

const settingsKey = (s: DecodingSettings) =>
  (s.doSample ? `sample:${s.temperature}:${s.topP}:${s.topK}` : "greedy") + `:${s.eosTokenId}`;

/** Batches {@linkcode GenerationJob}s onto one generator, one batch at a time. */
export class GenerationQueue {
  readonly #generator: TokenGenerator;
  readonly #maxBatchRows: number;
  readonly #maxWaitMs: number;
  readonly #maxQueuedRows: number;
  #waiting: Waiting[] = [];
  #queuedRows = 0;
  #running = false;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #closed = false;
  #idle: Promise<void> = Promise.resolve();
  #lastArrival = 0;
  #freeSince = 0;
  readonly #stats: GenerationQueueStats = { batches: 0, rows: 0, refused: 0 };

  /**
   * Opens a queue on a generator.
   * @param generator the model the batches run on
   * @param options batch size, wait and queue limits
   */
  constructor(generator: TokenGenerator, options: GenerationQueueOptions = {}) {
    this.#generator = generator;
    this.#maxBatchRows = Math.max(1, options.maxBatchRows ?? 32);
    this.#maxWaitMs = Math.max(0, options.maxWaitMs ?? 5);
    this.#maxQueuedRows = Math.max(1, options.maxQueuedRows ?? 1024);
  }

  /** Batches, rows and refusals so far (a copy). */
  stats(): GenerationQueueStats {
    return { ...this.#stats };
  }

  /** Rows waiting now. */
  get queuedRows(): number {
    return this.#queuedRows;
  }

  /**
   * Queues a job.
   * @param job the rows and their settings
   * @returns the new tokens per row (up to and including an EOS)
   * @throws {QueueFullError} (as a rejection) when the queue is full or closed
   */
  submit(job: GenerationJob): Promise<number[][]> {
    const rows = job.prompts.length;
    if (rows === 0) return Promise.resolve([]);
    if (this.#closed || this.#queuedRows + rows > this.#maxQueuedRows) {
      this.#stats.refused++;
      return Promise.reject(new QueueFullError(this.#queuedRows));
    }
    return new Promise((resolve, reject) => {
      const now = performance.now();
      this.#lastArrival = now;
      this.#waiting.push({ job, key: settingsKey(job.settings), since: now, resolve, reject });
      this.#queuedRows += rows;
      this.#pump();
    });
  }

  /** Refuses new jobs and waits for the queued ones to finish. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#running || this.#waiting.length > 0) {
      this.#pump(true);
      await this.#idle;
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  }

  #pump(now = false): void {
    if (this.#running || this.#waiting.length === 0) return;
    const time = performance.now();
    const quiet = time - this.#lastArrival;
    const waited = time - Math.max(this.#waiting[0].since, this.#freeSince);
    const cap = 10 * this.#maxWaitMs;
    const full = this.#queuedRows >= this.#maxBatchRows;
    if (!now && !this.#closed && !full && quiet < this.#maxWaitMs && waited < cap) {
      this.#timer ??= setTimeout(() => {
        this.#timer = null;
        this.#pump();
      }, Math.min(this.#maxWaitMs - quiet, cap - waited));
      return;
    }
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    const batch = this.#takeBatch();
    this.#running = true;
    this.#idle = this.#run(batch).finally(() => {
      this.#running = false;
      this.#freeSince = performance.now();
      this.#pump();
    });
  }

  /** The oldest job and the jobs after it with its settings, while they fit. */
  #takeBatch(): Waiting[] {
    const first = this.#waiting[0];
    const batch: Waiting[] = [];
    let rows = 0;
    this.#waiting = this.#waiting.filter((w) => {
      const size = w.job.prompts.length;
      const fits = batch.length === 0 || rows + size <= this.#maxBatchRows;
      if (w.key !== first.key || !fits) return true;
      batch.push(w);
      rows += size;
      return false;
    });
    this.#queuedRows -= rows;
    return batch;
  }

  async #run(batch: Waiting[]): Promise<void> {
    const owner: { job: number; row: number }[] = [];
    batch.forEach((w, job) => w.job.prompts.forEach((_, row) => owner.push({ job, row })));
    const jobs = batch.map((w) => w.job);
    const settings = jobs[0].settings;
    try {
      const tokens = await this.#generator.generate(jobs.flatMap((j) => j.prompts), {
        maxNewTokens: jobs.flatMap((j) => j.maxNewTokens),
        minNewTokens: jobs.flatMap((j) => j.minNewTokens ?? j.maxNewTokens.map(() => 0)),
        eosTokenId: settings.eosTokenId,
        doSample: settings.doSample,
        ...(settings.doSample
          ? {
            temperature: settings.temperature,
            topP: settings.topP,
            topK: settings.topK,
            rngs: jobs.flatMap((j) => j.rngs ?? []),
          }
          : {}),
        stoppingCriteria: (r, newTokens) => {
          const { job, row } = owner[r];
          return jobs[job].stop?.(row, newTokens) ?? false;
        },
      });
      this.#stats.batches++;
      this.#stats.rows += owner.length;
      let at = 0;
      for (const w of batch) {
        const rows = w.job.prompts.length;
        w.resolve(tokens.slice(at, at + rows));
        at += rows;
      }
    } catch (error) {
      for (const w of batch) w.reject(error);
    }
  }
}

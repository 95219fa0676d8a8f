/**
 * The ONNX Runtime sessions one engine owns (GPT-2, T5, Llama alike): the graphs it opens at
 * creation, those it opens on first use (a logits graph, the training pairs per head), the
 * sampling ops; all released together, and a use after release is an error naming the engine.
 * @module
 */
/** @ignore onnxruntime documents its own types; we reference them, not re-export them. */
import * as ort from "onnxruntime-node";
import type { TrainingHead } from "./heads.ts";
import type { TrainingModels } from "../graph/autodiff.ts";
import { TrainingPair } from "./training.ts";
import { OrtSampling } from "./sampling_ops.ts";

/** A graph to open: its bytes, and whether its buffers are [rows, vocab]-sized. */
export interface GraphToOpen {
  graph: Uint8Array;
  /**
   * Open it without the CPU memory arena: the arena keeps every buffer a session ever
   * allocated, good for the many small decode steps, but the score and training graphs
   * allocate [rows, vocab] buffers it would keep (about 0.8 GiB more peak memory at 16 x 128
   * tokens on GPT-2 for 0.05 s less per forward).
   */
  bigBuffers?: boolean;
}

/** Every session of one engine. `K` names the graphs opened at creation. */
export class EngineSessions<K extends string> {
  #training = new Map<TrainingHead, TrainingPair>();
  #lazy = new Map<string, Promise<ort.InferenceSession>>();
  #disposed = false;
  /** Softmax and top-k on ONNX Runtime, for the decode session. */
  readonly sampling: OrtSampling;

  private constructor(
    private owner: string,
    /** The graphs opened at creation, by name. */
    readonly fixed: Record<K, ort.InferenceSession>,
    /** The options of decode-sized graphs, and of big-buffer ones. */
    readonly options: {
      small: ort.InferenceSession.SessionOptions;
      big: ort.InferenceSession.SessionOptions;
    },
  ) {
    this.sampling = new OrtSampling(options.big);
  }

  /**
   * Opens `graphs` with `threads` intra-op threads.
   * @param owner the engine's name, for errors ("OnnxGpt2Engine")
   * @param graphs the graphs to open now, by name
   * @param threads intra-op threads (default 2)
   * @returns the sessions
   */
  static async open<K extends string>(
    owner: string,
    graphs: Record<K, GraphToOpen>,
    threads = 2,
  ): Promise<EngineSessions<K>> {
    const small: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: "all",
      logSeverityLevel: 3,
    };
    const big = { ...small, enableCpuMemArena: false };
    const entries = Object.entries(graphs) as [K, GraphToOpen][];
    const opened = await Promise.allSettled(
      entries.map(([, g]) => ort.InferenceSession.create(g.graph, g.bigBuffers ? big : small)),
    );
    const failed = opened.find((o) => o.status === "rejected");
    if (failed) {
      await Promise.all(opened.map((o) => o.status === "fulfilled" ? o.value.release() : null));
      throw (failed as PromiseRejectedResult).reason;
    }
    const fixed = Object.fromEntries(
      entries.map((
        [name],
        i,
      ) => [name, (opened[i] as PromiseFulfilledResult<ort.InferenceSession>).value]),
    ) as Record<K, ort.InferenceSession>;
    return new EngineSessions(owner, fixed, { small, big });
  }

  /** Throws once the sessions are released. */
  alive(): void {
    if (this.#disposed) throw new Error(`${this.owner} was disposed`);
  }

  /**
   * The training pair of `head`, opened (big buffers) from `build` on first use.
   * @param head the head the graphs end in
   * @param build the forward and backward graphs of that head
   */
  training(head: TrainingHead, build: (head: TrainingHead) => TrainingModels): TrainingPair {
    this.alive();
    let pair = this.#training.get(head);
    if (!pair) {
      pair = TrainingPair.open(build(head), this.options.big);
      this.#training.set(head, pair);
    }
    return pair;
  }

  /**
   * The training pairs of both heads, opened now, so that a runtime that cannot run them
   * fails at creation rather than mid-run; on failure every session is released.
   */
  async openTraining(build: (head: TrainingHead) => TrainingModels): Promise<void> {
    try {
      for (const head of ["lm", "value"] as const) this.training(head, build);
    } catch (error) {
      await this.dispose();
      throw error;
    }
  }

  /**
   * A graph opened from `build` on first use (e.g. full logits, which most runs never ask
   * for): big-buffer unless `small` (a decode-step variant).
   * @param name its key
   * @param build its bytes
   * @param small open it with the arena, as the decode steps are
   */
  lazy(name: string, build: () => Uint8Array, small = false): Promise<ort.InferenceSession> {
    this.alive();
    let session = this.#lazy.get(name);
    if (!session) {
      session = ort.InferenceSession.create(build(), small ? this.options.small : this.options.big);
      this.#lazy.set(name, session);
    }
    return session;
  }

  /** Releases every session (idempotent). */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const pair of this.#training.values()) pair.dispose();
    this.#training.clear();
    const lazy = [...this.#lazy.values()];
    this.#lazy.clear();
    await Promise.all([
      ...lazy.map((s) => s.then((session) => session.release())),
      this.sampling.release(),
      ...Object.values<ort.InferenceSession>(this.fixed).map((session) => session.release()),
    ]);
  }
}

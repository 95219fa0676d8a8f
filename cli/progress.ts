/**
 * Progress for long phases: one live line (rate and ETA) rewritten in place on
 * a terminal, plain log lines otherwise (CI logs, pipes).
 * @module
 */

/** Formats seconds as `1h02m`, `3m05s` or `42s`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  if (s >= 3600) {
    return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  }
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}

/** Where progress goes; defaults to stderr, live when stderr is a terminal. */
export interface ProgressSink {
  write(text: string): void;
  isTerminal: boolean;
}

const stderrSink: ProgressSink = {
  write: (text) => Deno.stderr.writeSync(new TextEncoder().encode(text)),
  isTerminal: Deno.stderr.isTerminal(),
};

/** A progress reporter for one phase of `total` units (iterations, steps, items). */
export class Progress {
  #start: number;
  #lastPlain = -Infinity;
  #done = 0;
  #initial = 0;

  /**
   * @param phase the phase name shown first, e.g. "train"
   * @param total units in the phase
   * @param options unit name, plain-mode interval in ms, sink and clock (for tests), and units
   *   done before this sitting (a resumed phase: they count toward `done`, not toward the rate)
   */
  constructor(
    readonly phase: string,
    readonly total: number,
    private options: {
      unit?: string;
      plainEveryMs?: number;
      sink?: ProgressSink;
      now?: () => number;
      initial?: number;
    } = {},
  ) {
    this.#start = this.now();
    this.#initial = options.initial ?? 0;
    this.#done = this.#initial;
  }

  private now(): number {
    return this.options.now?.() ?? performance.now();
  }

  /** The line for `done` units plus extra fields, e.g. `{ reward: "0.61" }`. */
  line(done: number, fields: Record<string, string | number> = {}): string {
    const elapsed = (this.now() - this.#start) / 1000;
    const rate = elapsed > 0 ? Math.max(0, done - this.#initial) / elapsed : 0;
    const eta = rate > 0 ? (this.total - done) / rate : NaN;
    const extra = Object.entries(fields).map(([k, v]) => `${k} ${v}`).join(" | ");
    const unit = this.options.unit ?? "it";
    return `${this.phase} ${done}/${this.total}` + (extra ? ` | ${extra}` : "") +
      ` | ${
        rate >= 1
          ? rate.toFixed(2) + ` ${unit}/s`
          : (rate > 0 ? (1 / rate).toFixed(1) + ` s/${unit}` : "-")
      }` +
      ` | elapsed ${formatDuration(elapsed)} | eta ${formatDuration(eta)}`;
  }

  /** Reports `done` units; on a terminal rewrites the line, else logs at most every few seconds. */
  update(done: number, fields: Record<string, string | number> = {}): void {
    this.#done = done;
    const sink = this.options.sink ?? stderrSink;
    const text = this.line(done, fields);
    if (sink.isTerminal) {
      sink.write(`\r\x1b[2K${text}`);
    } else if (
      done >= this.total || this.now() - this.#lastPlain >= (this.options.plainEveryMs ?? 5000)
    ) {
      this.#lastPlain = this.now();
      sink.write(text + "\n");
    }
  }

  /** Ends the phase (a newline after a live line). */
  finish(fields: Record<string, string | number> = {}): void {
    const sink = this.options.sink ?? stderrSink;
    if (sink.isTerminal) sink.write(`\r\x1b[2K${this.line(this.#done, fields)}\n`);
    else if (this.#done < this.total) sink.write(this.line(this.#done, fields) + "\n");
  }
}

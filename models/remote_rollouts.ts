/**
 * Roll-outs on OpenAI-compatible inference servers (vLLM, `deno task serve`): each row goes as
 * one seeded completions request of token ids, to the server with the fewest requests in
 * flight; a server that fails (network error, timeout, 408, 429, 5xx) is set aside for a while
 * and the row goes to another, within a bounded number of attempts. Tokens come back as ids
 * (vLLM's `return_tokens_as_token_ids`), so nothing is re-tokenised; with the row's seed a
 * server samples what the local route samples (`GenerateOptions.seeds`). Before each batch an
 * adapter source may hand over a new LoRA adapter, which is loaded on every server
 * (`POST /v1/load_lora_adapter`) and asked for by name; the previous one is unloaded.
 * @module
 */
import { InputError } from "../core/errors.ts";
import type { GenerateOptions, PolicyLM, TokenGenerator } from "./types.ts";

/** Counts of the remote route (into the run's metrics). */
export interface RolloutStats {
  /** Completion requests that got an answer. */
  requests: number;
  /** Requests sent again to another server after a failure. */
  failovers: number;
  /** Adapters loaded (per server). */
  adapterLoads: number;
  /** Σ |server log-prob − learner log-prob| over the checked tokens (the train/inference mismatch). */
  mismatchSum?: number;
  /** Tokens checked for the mismatch. */
  mismatchTokens?: number;
}

/** A new adapter to serve: its name and its folder (readable by the servers). */
export interface AdapterUpdate {
  name: string;
  path: string;
}

/** Options of {@linkcode RemoteGenerator}. */
export interface RemoteGeneratorOptions {
  /** The servers' API base URLs, e.g. `http://127.0.0.1:8000/v1`. */
  servers: string[];
  /** The model to ask for until an adapter is loaded (the served base's name). */
  model: string;
  /** Sent as a Bearer token when given. */
  apiKey?: string;
  /** Seconds before a request is abandoned. @default 60 */
  timeoutSeconds?: number;
  /** Attempts after the first, over all servers, per row. @default 4 */
  maxRetries?: number;
  /** How long a failing server is set aside, in ms. @default 10000 */
  cooldownMs?: number;
  /** Requests in flight per server at most. @default 8 */
  concurrency?: number;
  /** Called before each batch: a new adapter to load, or null to keep the current one. */
  adapters?: () => Promise<AdapterUpdate | null>;
  /** Where the counts go. */
  stats?: RolloutStats;
  /**
   * The learner's own log-probs of a probe sequence (with its current adapter): after each load
   * every server scores the probe and must agree within `tolerance` (a server with another base
   * or a stale adapter is an error, not silently different roll-outs).
   */
  probe?: () => Promise<{ ids: number[]; logProbs: number[]; tolerance: number }>;
  /**
   * The learner's log-probs of continuations: with it, up to 8 rows of each batch are scored
   * here and compared with the servers' log-probs of the same tokens (`stats.mismatchSum`).
   */
  scorer?: (prompts: number[][], continuations: number[][]) => Promise<number[][]>;
  /**
   * Keep the servers' log-probs of each sampled row until the next adapter, for
   * {@linkcode RemoteGenerator.servedLogProbs} (PPO's old log-probs from the servers).
   */
  keepLogProbs?: boolean;
}

/** A server's log-probs of part of a sampled sequence: `logProbs[t]` is token `from + t`'s. */
export interface ServedLogProbs {
  from: number;
  logProbs: number[];
}

interface Server {
  url: string;
  outstanding: number;
  downUntil: number;
  lastError: string;
  /** The model it serves now (the base until an adapter loads; stale after a failed load). */
  model: string;
}

class Failure extends Error {
  constructor(message: string, readonly retryable: boolean) {
    super(message);
  }
}

/** A {@linkcode TokenGenerator} whose sampling runs on remote servers. */
export class RemoteGenerator implements TokenGenerator {
  readonly #servers: Server[];
  readonly #options: RemoteGeneratorOptions;
  #model: string;
  #current: AdapterUpdate | null = null;
  #waiters: (() => void)[] = [];
  /** Sampled sequences (ids joined) → the servers' log-probs of their sampled tokens. */
  #served = new Map<string, ServedLogProbs>();

  /**
   * @param options the servers, model, key, limits and adapter source
   */
  constructor(options: RemoteGeneratorOptions) {
    if (options.servers.length === 0) throw new InputError("no roll-out servers given");
    this.#options = options;
    this.#model = options.model;
    this.#servers = options.servers.map((url) => ({
      url: url.replace(/\/+$/, ""),
      outstanding: 0,
      downUntil: 0,
      lastError: "",
      model: options.model,
    }));
  }

  /** Loads the current adapter where it is missing; a server that fails is set aside. */
  async #load(servers: Server[], update: AdapterUpdate): Promise<void> {
    await Promise.all(servers.map(async (server) => {
      try {
        await this.#post(server, "/load_lora_adapter", {
          lora_name: update.name,
          lora_path: update.path,
        });
        server.model = update.name;
        if (this.#options.stats) this.#options.stats.adapterLoads++;
      } catch (error) {
        if (error instanceof Failure && !error.retryable) {
          throw new InputError(`cannot load adapter ${update.name}: ${error.message}`, server.url);
        }
        server.downUntil = performance.now() + (this.#options.cooldownMs ?? 10000);
        server.lastError = (error as Error).message;
      }
    }));
  }

  /** Unloads the current adapter from the servers (best effort: a server that is gone is skipped). */
  async close(): Promise<void> {
    if (this.#model === this.#options.model) return;
    const name = this.#model;
    await Promise.all(
      this.#servers.filter((s) => s.model === name).map((s) =>
        this.#post(s, "/unload_lora_adapter", { lora_name: name }).catch(() => {})
      ),
    );
  }

  /**
   * The servers' log-probs of a sequence (input then sampled tokens) this generator sampled
   * under the current adapter, when `keepLogProbs` is on; null for any other sequence.
   */
  servedLogProbs(sequence: number[]): ServedLogProbs | null {
    return this.#served.get(sequence.join(",")) ?? null;
  }

  /** The model the servers are asked for now. */
  get model(): string {
    return this.#model;
  }

  async generate(inputIds: number[][], options: GenerateOptions): Promise<number[][]> {
    if (inputIds.length === 0) return [];
    if ((options.numBeams ?? 1) > 1 && !options.doSample) {
      throw new RangeError("Remote roll-outs sample or decode greedily; beam search stays local");
    }
    const rows = inputIds.length;
    const perRow = (v: number | number[] | undefined, fallback: number) =>
      Array.isArray(v) ? v : new Array(rows).fill(v ?? fallback);
    const max = perRow(options.maxNewTokens, 0);
    const min = perRow(options.minNewTokens, 0);
    if (options.doSample && !options.seeds) {
      throw new TypeError("Remote roll-outs need options.seeds: one sampling seed per row");
    }
    await this.#syncAdapter();
    const inputs = options.prefixes
      ? inputIds.map((ids, i) => ids.concat(options.prefixes![i]))
      : inputIds;
    const rowsOut = await Promise.all(inputs.map((ids, i) => {
      if (max[i] === 0) return Promise.resolve({ ids: [] as number[], logProbs: [] as number[] });
      return this.#row(
        {
          model: this.#model,
          prompt: [ids],
          max_tokens: max[i],
          min_tokens: Math.min(min[i], max[i]),
          temperature: options.doSample ? options.temperature ?? 1 : 0,
          top_p: options.topP ?? 1,
          top_k: options.topK ?? 0,
          ...(options.doSample ? { seed: options.seeds![i] } : {}),
          ...(options.eosTokenId === null ? { ignore_eos: true } : {}),
          logprobs: 0,
          return_tokens_as_token_ids: true,
        },
        max[i],
        options.eosTokenId ?? null,
      );
    }));
    await this.#measureMismatch(inputs, rowsOut);
    if (this.#options.keepLogProbs) {
      // bounded: one adapter's batches, and never more than a few thousand rows
      if (this.#served.size > 4096) this.#served.clear();
      rowsOut.forEach((r, i) => {
        if (r.logProbs.length === 0) return;
        this.#served.set(inputs[i].concat(r.ids).join(","), {
          from: inputs[i].length,
          logProbs: r.logProbs,
        });
      });
    }
    return rowsOut.map((r) => r.ids);
  }

  /** The servers' log-probs against the learner's, on a few rows of the batch. */
  async #measureMismatch(inputs: number[][], rows: { ids: number[]; logProbs: number[] }[]) {
    const { scorer, stats } = this.#options;
    if (!scorer || !stats) return;
    const picked = rows.map((r, i) => ({ ...r, i })).filter((r) => r.logProbs.length > 0)
      .slice(0, 8);
    if (picked.length === 0) return;
    const local = await scorer(
      picked.map((r) => inputs[r.i]),
      picked.map((r) => r.ids.slice(0, r.logProbs.length)),
    );
    picked.forEach((r, k) => {
      r.logProbs.forEach((lp, t) => {
        stats.mismatchSum = (stats.mismatchSum ?? 0) + Math.abs(lp - local[k][t]);
        stats.mismatchTokens = (stats.mismatchTokens ?? 0) + 1;
      });
    });
  }

  /**
   * Loads the newest adapter on every server now, if there is one (each `generate` does this
   * first; calling it ahead separates the sync from the sampling).
   */
  sync(): Promise<void> {
    return this.#syncAdapter();
  }

  async #syncAdapter(): Promise<void> {
    const update = await this.#options.adapters?.();
    if (update) {
      // log-probs under the old adapter are no longer the policy's
      this.#served.clear();
      const previous = this.#model;
      this.#current = update;
      this.#model = update.name;
      await this.#load(this.#servers, update);
      await this.#verify(this.#servers.filter((s) => s.model === update.name));
      if (previous !== this.#options.model) {
        // the old adapter is dropped where it can be; a server that misses this keeps it loaded
        await Promise.all(
          this.#servers.filter((s) => s.model === update.name).map((s) =>
            this.#post(s, "/unload_lora_adapter", { lora_name: previous }).catch(() => {})
          ),
        );
      }
    }
    // a server back from a failure gets the adapter it missed
    const now = performance.now();
    const stale = this.#servers.filter((s) => s.model !== this.#model && s.downUntil <= now);
    if (stale.length > 0 && this.#current) {
      await this.#load(stale, this.#current);
      await this.#verify(stale.filter((s) => s.model === this.#model));
    }
  }

  /** The servers score the probe as the learner does, or the run stops naming the first that does not. */
  async #verify(servers: Server[]): Promise<void> {
    if (!this.#options.probe || servers.length === 0) return;
    const { ids, logProbs, tolerance } = await this.#options.probe();
    await Promise.all(servers.map(async (server) => {
      const json = await this.#post(server, "/completions", {
        model: this.#model,
        prompt: [ids],
        max_tokens: 0,
        echo: true,
        logprobs: 0,
      }).catch((error) => {
        throw new InputError(`cannot score the probe: ${(error as Error).message}`, server.url);
      }) as { choices?: { logprobs?: { token_logprobs?: (number | null)[] } }[] };
      const got = json.choices?.[0]?.logprobs?.token_logprobs?.slice(1);
      if (!Array.isArray(got) || got.length !== logProbs.length) {
        throw new InputError(
          `scored the ${logProbs.length}-token probe with ${
            got?.length ?? "no"
          } log-probs (echo with max_tokens 0 expected)`,
          server.url,
        );
      }
      const worst = Math.max(...got.map((v, i) => Math.abs((v ?? NaN) - logProbs[i])));
      if (!(worst <= tolerance)) {
        throw new InputError(
          `serves ${this.#model} with log-probs up to ${
            worst.toPrecision(3)
          } from the learner's (tolerance ${tolerance}): not the learner's base model or adapter`,
          server.url,
        );
      }
    }));
  }

  /** One row's completion as token ids, retried on other servers; EOS appended when it ended. */
  async #row(
    body: Record<string, unknown>,
    max: number,
    eos: number | null,
  ): Promise<{ ids: number[]; logProbs: number[] }> {
    const attempts = (this.#options.maxRetries ?? 4) + 1;
    let last = "";
    for (let attempt = 0; attempt < attempts; attempt++) {
      const server = await this.#acquire();
      try {
        const json = await this.#post(server, "/completions", body) as {
          choices?: {
            logprobs?: { tokens?: unknown[]; token_logprobs?: unknown[] };
            finish_reason?: string;
          }[];
        };
        const choice = json.choices?.[0];
        const tokens = choice?.logprobs?.tokens;
        if (!Array.isArray(tokens)) {
          throw new Failure("the answer has no choices[0].logprobs.tokens (token ids)", false);
        }
        const ids = tokens.map((t) => {
          const m = typeof t === "string" ? t.match(/^token_id:(\d+)$/) : null;
          if (!m) throw new Failure(`token ${JSON.stringify(t)} is not "token_id:N"`, false);
          return Number(m[1]);
        });
        if (this.#options.stats) this.#options.stats.requests++;
        // the server's own log-probs of the tokens it returned (before an EOS we append)
        const served = choice!.logprobs!.token_logprobs;
        const logProbs = Array.isArray(served) && served.length === ids.length &&
            served.every((v) => typeof v === "number")
          ? served as number[]
          : [];
        const ended = choice!.finish_reason === "stop";
        if (ended && eos !== null && ids.length < max && ids.at(-1) !== eos) ids.push(eos);
        if (ids.length > max) {
          throw new Failure(`${ids.length} tokens for max_tokens ${max}`, false);
        }
        return { ids, logProbs };
      } catch (error) {
        const failure = error instanceof Failure ? error : new Failure(String(error), true);
        last = `${server.url}: ${failure.message}`;
        if (!failure.retryable) {
          throw new InputError(`roll-out request failed: ${failure.message}`, server.url);
        }
        server.downUntil = performance.now() + (this.#options.cooldownMs ?? 10000);
        server.lastError = failure.message;
        if (this.#options.stats && attempt + 1 < attempts) this.#options.stats.failovers++;
      } finally {
        this.#release(server);
      }
    }
    throw new InputError(
      `roll-out request failed on every attempt (${attempts}); last: ${last}`,
      this.#servers.map((s) => s.url).join(", "),
    );
  }

  /** The up server with the fewest requests in flight (waiting for room or for one to be back). */
  async #acquire(): Promise<Server> {
    const limit = this.#options.concurrency ?? 8;
    for (;;) {
      const now = performance.now();
      const current = this.#servers.filter((s) => s.model === this.#model);
      if (current.length === 0) {
        throw new InputError(
          `no server serves ${this.#model} (${
            this.#servers.map((s) => `${s.url}: ${s.lastError}`).join("; ")
          })`,
          this.#servers.map((s) => s.url).join(", "),
        );
      }
      const up = current.filter((s) => s.downUntil <= now);
      // every server set aside: try the one back soonest rather than fail without asking
      const pool = up.length > 0
        ? up
        : [current.reduce((a, b) => a.downUntil < b.downUntil ? a : b)];
      const best = pool.filter((s) => s.outstanding < limit)
        .sort((a, b) => a.outstanding - b.outstanding)[0];
      if (best) {
        best.outstanding++;
        return best;
      }
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  #release(server: Server): void {
    server.outstanding--;
    this.#waiters.shift()?.();
  }

  async #post(server: Server, path: string, body: unknown): Promise<unknown> {
    const timeoutMs = (this.#options.timeoutSeconds ?? 60) * 1000;
    let response: Response;
    try {
      response = await fetch(`${server.url}${path}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(this.#options.apiKey ? { authorization: `Bearer ${this.#options.apiKey}` } : {}),
        },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      const name = (error as Error).name;
      throw new Failure(
        name === "TimeoutError"
          ? `no answer within ${timeoutMs / 1000} s`
          : (error as Error).message.split("\n")[0],
        true,
      );
    }
    const text = await response.text();
    if (!response.ok) {
      const status = response.status;
      // 404 on a completion: the server lost the adapter (restarted); another may have it
      const lost = status === 404 && path === "/completions";
      if (lost) server.model = this.#options.model;
      throw new Failure(
        `HTTP ${status}: ${text.replace(/\s+/g, " ").slice(0, 200)}`,
        lost || status === 408 || status === 429 || status >= 500,
      );
    }
    if (path !== "/completions") return text;
    try {
      return JSON.parse(text);
    } catch {
      throw new Failure(`the answer is not JSON (it starts "${text.slice(0, 60)}")`, false);
    }
  }
}

/**
 * A policy whose sampling runs elsewhere (e.g. a {@linkcode RemoteGenerator}) while scoring,
 * gradients and weights stay its own.
 *
 * With `servedLogProbs`, the log-probs of tokens the sampler sampled are the ones it reports
 * (the servers' own: PPO's old log-probs without a recompute, the train/inference mismatch
 * left in, as vLLM-backed trainers do when asked); the policy scores only the rows, and within
 * them the tokens, it did not sample.
 * @param policy the policy (log-probs, forward, weights)
 * @param sampler where its samples come from
 * @param servedLogProbs the sampler's log-probs of a sequence it sampled, or null
 * @returns the combined policy
 */
export function remoteSampling<P extends PolicyLM>(
  policy: P,
  sampler: TokenGenerator,
  servedLogProbs?: (sequence: number[]) => ServedLogProbs | null,
): PolicyLM {
  return {
    generate: (inputIds, options) => sampler.generate(inputIds, options),
    seq2seq: policy.seq2seq,
    continuationLogProbs: servedLogProbs
      ? (p, c) => withServedLogProbs(policy, p, c, servedLogProbs)
      : (p, c) => policy.continuationLogProbs(p, c),
    forwardContinuation: (p, c, o) => policy.forwardContinuation(p, c, o),
    trainableVariables: () => policy.trainableVariables(),
    clone: () => policy.clone(),
    dispose: () => policy.dispose(),
  };
}

/** Continuation log-probs: the served ones where there are some, the policy's for the rest. */
async function withServedLogProbs(
  policy: PolicyLM,
  prompts: number[][],
  continuations: number[][],
  servedLogProbs: (sequence: number[]) => ServedLogProbs | null,
): Promise<number[][]> {
  // positions in each continuation: the served part starts `from - prompt length` tokens in
  const served = prompts.map((p, i) => {
    const s = servedLogProbs(p.concat(continuations[i]));
    return s && s.from >= p.length ? { start: s.from - p.length, logProbs: s.logProbs } : null;
  });
  const covered = (i: number) =>
    served[i] !== null && served[i]!.start === 0 &&
    served[i]!.logProbs.length === continuations[i].length;
  const rest = prompts.flatMap((_, i) => covered(i) ? [] : [i]);
  const local = rest.length > 0
    ? await policy.continuationLogProbs(
      rest.map((i) => prompts[i]),
      rest.map((i) => continuations[i]),
    )
    : [];
  const scored = new Map(rest.map((i, k) => [i, local[k]]));
  return prompts.map((_, i) => {
    const s = served[i];
    if (!s) return scored.get(i)!;
    const row = covered(i) ? s.logProbs.slice() : scored.get(i)!.slice();
    s.logProbs.forEach((lp, t) => row[s.start + t] = lp);
    return row;
  });
}

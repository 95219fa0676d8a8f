/**
 * Models from the Hugging Face Hub: a model argument that is not a local folder but a hub id
 * (`org/name`, optionally `@revision`) is fetched once into the cache in Hugging Face's own
 * layout (`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`:
 * `models--org--name/{blobs,snapshots/<commit>,refs}`), so `huggingface_hub` and this library
 * share it. Only the files a model needs come down (config, generation config, tokenizer files,
 * safetensors and their index); a partial download resumes; each file is checked against the
 * hub's ETag (SHA-256 for LFS files, the git blob SHA-1 otherwise). `HF_TOKEN` is sent as a
 * bearer token, `HF_ENDPOINT` replaces https://huggingface.co, and with `HF_HUB_OFFLINE=1`
 * nothing is fetched: what is missing is named.
 * @module
 */
import { InputError } from "../core/errors.ts";
import { exists } from "../core/fs.ts";

/** The files a model folder may hold that a model needs, besides its weights. */
const MODEL_FILES = [
  "config.json",
  "generation_config.json",
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
];
/** Files whose absence is fine. */
const OPTIONAL = new Set(["generation_config.json", "special_tokens_map.json"]);

/** A hub model id and revision. */
export interface HubId {
  /** `org/name`. */
  repo: string;
  /** A branch, tag or commit (default "main"). */
  revision: string;
}

/**
 * Parses `org/name` or `org/name@revision`; null for anything else (a local path).
 * @param spec the model argument
 * @returns the id, or null
 */
export function parseHubId(spec: string): HubId | null {
  const m = spec.match(/^([A-Za-z0-9][\w.-]*\/[\w.-]+)(?:@([\w./-]+))?$/);
  if (!m || spec.startsWith(".") || spec.includes("..")) return null;
  return { repo: m[1], revision: m[2] ?? "main" };
}

/** Where the hub cache is (HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub). */
export function hubCacheDir(): string {
  const env = (name: string) => Deno.env.get(name) || undefined;
  const home = env("HF_HOME") ??
    `${env("XDG_CACHE_HOME") ?? `${env("HOME") ?? "."}/.cache`}/huggingface`;
  return env("HF_HUB_CACHE") ?? `${home}/hub`;
}

/** Options of {@linkcode resolveModelDir}. */
export interface ResolveOptions {
  /** Where progress lines go. @default stderr */
  log?: (line: string) => void;
  /** Bytes between progress lines of one file. @default 64 MiB */
  progressEvery?: number;
}

/**
 * A model folder for a model argument: a local folder as it is, else a hub id fetched into the
 * cache (once; later calls find it there).
 * @param spec a folder, or `org/name[@revision]`
 * @param options progress output
 * @returns the folder to load from
 * @throws {InputError} naming the id or URL and what went wrong (gated, missing, offline)
 */
export async function resolveModelDir(spec: string, options: ResolveOptions = {}): Promise<string> {
  if (await exists(spec)) return spec;
  const id = parseHubId(spec);
  if (!id) throw new InputError("is neither a folder nor a hub id (org/name[@revision])", spec);
  return await fetchHubModel(id, options);
}

/**
 * Fetches a hub model's files into the cache and returns its snapshot folder.
 * @param id the repo and revision
 * @param options progress output
 * @returns `<cache>/models--org--name/snapshots/<commit>`
 */
export async function fetchHubModel(id: HubId, options: ResolveOptions = {}): Promise<string> {
  const log = options.log ?? ((line: string) => console.error(line));
  const root = `${hubCacheDir()}/models--${id.repo.replace(/\//g, "--")}`;
  const offline = ["1", "true", "yes"].includes(
    (Deno.env.get("HF_HUB_OFFLINE") ?? "").toLowerCase(),
  );
  const known = await Deno.readTextFile(`${root}/refs/${id.revision}`).catch(() => null);
  const commitFor = known?.trim() ?? (/^[0-9a-f]{40}$/.test(id.revision) ? id.revision : null);
  if (offline) {
    const snapshot = commitFor ? `${root}/snapshots/${commitFor}` : null;
    const missing = snapshot ? await missingFiles(snapshot) : ["the whole snapshot"];
    if (missing.length > 0) {
      throw new InputError(
        `HF_HUB_OFFLINE is set and the cache (${root}) lacks ${missing.join(", ")}; ` +
          "fetch it once online, or pass a local model folder instead",
        `${id.repo}@${id.revision}`,
      );
    }
    return snapshot!;
  }
  const client = new HubClient(id, log, options.progressEvery ?? 64 * 2 ** 20);
  // config.json first: it names the commit the rest must come from
  const config = await client.head("config.json");
  if (!config) {
    throw new InputError("has no config.json at this revision", client.url("config.json"));
  }
  const commit = config.commit ?? commitFor ?? id.revision;
  const snapshot = `${root}/snapshots/${commit}`;
  await Deno.mkdir(`${root}/refs`, { recursive: true });
  await Deno.writeTextFile(`${root}/refs/${id.revision}`, commit);
  const files = [...MODEL_FILES];
  const index = await client.head("model.safetensors.index.json", commit);
  if (index) {
    await client.download("model.safetensors.index.json", commit, root, snapshot, index);
    const json = JSON.parse(await Deno.readTextFile(`${snapshot}/model.safetensors.index.json`));
    files.push(...new Set(Object.values(json.weight_map ?? {}) as string[]));
  } else files.push("model.safetensors");
  for (const name of files) {
    if (await exists(`${snapshot}/${name}`)) continue;
    const head = name === "config.json" ? config : await client.head(name, commit);
    if (!head) {
      if (OPTIONAL.has(name)) continue;
      throw new InputError(`has no ${name}`, client.url(name, commit));
    }
    await client.download(name, commit, root, snapshot, head);
  }
  return snapshot;
}

async function missingFiles(snapshot: string): Promise<string[]> {
  const missing: string[] = [];
  for (const name of MODEL_FILES) {
    if (!OPTIONAL.has(name) && !(await exists(`${snapshot}/${name}`))) missing.push(name);
  }
  const index = `${snapshot}/model.safetensors.index.json`;
  if (await exists(index)) {
    const json = JSON.parse(await Deno.readTextFile(index));
    for (const shard of new Set(Object.values(json.weight_map ?? {}) as string[])) {
      if (!(await exists(`${snapshot}/${shard}`))) missing.push(shard);
    }
  } else if (!(await exists(`${snapshot}/model.safetensors`))) missing.push("model.safetensors");
  return missing;
}

/** What a HEAD request on a file's resolve URL tells. */
interface FileHead {
  /** The content's checksum as the hub states it (SHA-256 for LFS, git SHA-1 else). */
  etag: string;
  /** The commit the revision resolves to. */
  commit: string | null;
  size: number | null;
}

class HubClient {
  readonly endpoint: string;
  readonly #headers: Record<string, string>;

  constructor(readonly id: HubId, readonly log: (line: string) => void, readonly every: number) {
    this.endpoint = (Deno.env.get("HF_ENDPOINT") || "https://huggingface.co").replace(/\/+$/, "");
    const token = Deno.env.get("HF_TOKEN");
    this.#headers = token ? { authorization: `Bearer ${token}` } : {};
  }

  url(name: string, revision = this.id.revision): string {
    return `${this.endpoint}/${this.id.repo}/resolve/${encodeURIComponent(revision)}/${name}`;
  }

  /** The file's ETag and commit, or null when it does not exist (404). */
  async head(name: string, revision?: string): Promise<FileHead | null> {
    const url = this.url(name, revision);
    // not followed: the hub's own answer carries the LFS ETag and the commit
    const response = await this.#fetch(url, { method: "HEAD", redirect: "manual" });
    if (response.status === 404) return null;
    if (response.status >= 400) this.#fail(response, url);
    const etag = (response.headers.get("x-linked-etag") ?? response.headers.get("etag") ?? "")
      .replace(/^W\//, "").replace(/"/g, "");
    if (!etag) throw new InputError("answered without an ETag to check the file against", url);
    const size = response.headers.get("x-linked-size") ?? response.headers.get("content-length");
    return {
      etag,
      commit: response.headers.get("x-repo-commit"),
      size: size ? Number(size) : null,
    };
  }

  /** Downloads into blobs/<etag> (resuming a partial one), checks it, links it into the snapshot. */
  async download(name: string, commit: string, root: string, snapshot: string, head: FileHead) {
    const blob = `${root}/blobs/${head.etag}`;
    const partial = `${blob}.incomplete`;
    await Deno.mkdir(`${root}/blobs`, { recursive: true });
    if (!(await exists(blob))) {
      const url = this.url(name, commit);
      const have = (await Deno.stat(partial).catch(() => null))?.size ?? 0;
      const response = await this.#fetch(url, {
        headers: have > 0 ? { range: `bytes=${have}-` } : {},
      });
      if (response.status >= 400 && response.status !== 416) this.#fail(response, url);
      const resumed = response.status === 206;
      const file = await Deno.open(partial, {
        create: true,
        write: true,
        append: resumed,
        truncate: !resumed,
      });
      let done = resumed ? have : 0;
      let next = done + this.every;
      const start = performance.now();
      try {
        for await (const chunk of response.body ?? []) {
          await writeAll(file, chunk);
          done += chunk.length;
          if (done >= next) {
            next += this.every;
            this.log(progressLine(name, done, head.size, performance.now() - start));
          }
        }
      } finally {
        file.close();
      }
      const got = await checksum(partial, head.etag);
      if (got !== head.etag) {
        await Deno.remove(partial);
        throw new InputError(
          `downloaded ${name} does not match the hub's ETag ${head.etag} (got ${got}); removed it`,
          url,
        );
      }
      await Deno.rename(partial, blob);
      this.log(`hub: ${this.id.repo}/${name} (${formatBytes(done)}) cached`);
    }
    const target = `${snapshot}/${name}`;
    await Deno.mkdir(target.slice(0, target.lastIndexOf("/")), { recursive: true });
    const depth = name.split("/").length + 1;
    await Deno.symlink(`${"../".repeat(depth)}blobs/${head.etag}`, target).catch(async (error) => {
      if (!(error instanceof Deno.errors.AlreadyExists)) {
        await Deno.copyFile(blob, target); // no symlinks here: a copy
      }
    });
  }

  async #fetch(url: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(url, {
        ...init,
        headers: { ...this.#headers, ...(init.headers as Record<string, string> ?? {}) },
        signal: AbortSignal.timeout(600_000),
      });
    } catch (error) {
      throw new InputError(
        `cannot reach the hub (${(error as Error).message.split("\n")[0]}); set HF_ENDPOINT, ` +
          "or HF_HUB_OFFLINE=1 with a cached model, or pass a local folder",
        url,
      );
    }
  }

  #fail(response: Response, url: string): never {
    const why = response.status === 401 || response.status === 403
      ? `HTTP ${response.status}: a gated or private model; accept its terms on the hub and ` +
        "set HF_TOKEN to a token that may read it"
      : `HTTP ${response.status}`;
    throw new InputError(why, url);
  }
}

async function writeAll(file: Deno.FsFile, data: Uint8Array): Promise<void> {
  for (let offset = 0; offset < data.length;) offset += await file.write(data.subarray(offset));
}

/** SHA-256 (64 hex digits) or git's blob SHA-1 (40), as the ETag's length says. */
async function checksum(path: string, etag: string): Promise<string> {
  const data = await Deno.readFile(path);
  if (etag.length === 40) {
    const header = new TextEncoder().encode(`blob ${data.length}\0`);
    const blob = new Uint8Array(header.length + data.length);
    blob.set(header);
    blob.set(data, header.length);
    return hex(await crypto.subtle.digest("SHA-1", blob));
  }
  return hex(await crypto.subtle.digest("SHA-256", data));
}

const hex = (buffer: ArrayBuffer) =>
  Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");

function formatBytes(n: number): string {
  return n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
}

function progressLine(name: string, done: number, size: number | null, ms: number): string {
  const rate = done / Math.max(ms / 1000, 1e-3);
  const eta = size ? ` | eta ${Math.ceil((size - done) / rate)}s` : "";
  const of = size ? ` of ${formatBytes(size)}` : "";
  return `hub: ${name} ${formatBytes(done)}${of} | ${formatBytes(rate)}/s${eta}`;
}

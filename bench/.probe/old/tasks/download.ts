/**
 * Downloading the canonical aclImdb archive for users who are online: a cache folder, progress
 * (bytes, rate, ETA), SHA-256 verification, resuming a partial file with an HTTP Range request,
 * then unpacking with our own tar reader. Offline, it says how to point at local data instead.
 * @module
 */
import { createHash } from "node:crypto";
import { InputError } from "../core/errors.ts";
import { DATA_DIR_ENV, resolveDataDir } from "./data_dir.ts";
import { exists } from "../core/fs.ts";
import { extractTarGz } from "./tar.ts";

/** Where Maas et al. publish the archive. */
export const ACL_IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz";

/**
 * SHA-256 of aclImdb_v1.tar.gz (84,125,825 bytes). Not verified against the file here (no
 * network); it is the value several independent projects pin (tfds-style checksum lists, Julia's
 * DataDeps, Go and Rust dataset crates). Pass `sha256` to override it.
 */
export const ACL_IMDB_SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe";

/** Progress of a download. */
export interface DownloadProgress {
  /** Bytes on disk so far (including a resumed part). */
  bytes: number;
  /** Total bytes, when the server says. */
  total: number | null;
  /** Mean rate of this session in bytes per second. */
  bytesPerSecond: number;
  /** Seconds left at that rate, when the total is known. */
  etaSeconds: number | null;
}

/** Options of {@linkcode downloadFile}. */
export interface DownloadOptions {
  /** Expected SHA-256 (hex); null skips the check. */
  sha256: string | null;
  /** Called at most every `progressIntervalMs` and once at the end. */
  onProgress?: (progress: DownloadProgress) => void;
  /** Least time between two progress calls, in milliseconds. @default 500 */
  progressIntervalMs?: number;
}

/**
 * Downloads `url` to `dest`. Bytes go to `dest + ".part"`; a later call resumes it with
 * `Range: bytes=<size>-` (a server answering 200 instead restarts it). The checksum is checked
 * before the part is renamed to `dest`; a mismatch deletes the part and throws.
 * @param url the file's address
 * @param dest where the complete file goes
 * @param options checksum and progress
 */
export async function downloadFile(
  url: string,
  dest: string,
  options: DownloadOptions,
): Promise<void> {
  const part = `${dest}.part`;
  let start = 0;
  try {
    start = (await Deno.stat(part)).size;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  let response: Response;
  try {
    response = await fetch(url, { headers: start > 0 ? { Range: `bytes=${start}-` } : {} });
  } catch (error) {
    throw offlineError(url, error as Error);
  }
  let append = false;
  let total: number | null = null;
  const length = Number(response.headers.get("content-length") ?? NaN);
  if (response.status === 206) {
    const range = /bytes (\d+)-\d+\/(\d+|\*)/.exec(response.headers.get("content-range") ?? "");
    if (!range || Number(range[1]) !== start) {
      await response.body?.cancel();
      throw new InputError(`Server resumed at the wrong offset (${range?.[1]} for ${start})`, url);
    }
    append = true;
    total = range[2] === "*" ? null : Number(range[2]);
  } else if (response.status === 416 && start > 0) {
    // The part is already whole: the server has nothing past its end.
    await response.body?.cancel();
    append = true;
    total = start;
  } else if (response.ok) {
    total = Number.isFinite(length) ? length : null;
  } else {
    await response.body?.cancel();
    throw new InputError(`Download failed: HTTP ${response.status} ${response.statusText}`, url);
  }
  const file = await Deno.open(part, { write: true, create: true, append, truncate: !append });
  const began = performance.now();
  let bytes = append ? start : 0;
  let fresh = 0;
  let lastReport = -Infinity;
  const report = (force: boolean) => {
    const now = performance.now();
    if (!options.onProgress || (!force && now - lastReport < (options.progressIntervalMs ?? 500))) {
      return;
    }
    lastReport = now;
    const bytesPerSecond = fresh / Math.max((now - began) / 1000, 1e-3);
    const etaSeconds = total !== null && bytesPerSecond > 0
      ? (total - bytes) / bytesPerSecond
      : null;
    options.onProgress({ bytes, total, bytesPerSecond, etaSeconds });
  };
  try {
    if (response.status !== 416 && response.body) {
      for await (const chunk of response.body) {
        let written = 0;
        while (written < chunk.length) written += await file.write(chunk.subarray(written));
        bytes += chunk.length;
        fresh += chunk.length;
        report(false);
      }
    }
    await file.sync();
  } catch (error) {
    throw new InputError(
      `Download interrupted after ${bytes} bytes (${(error as Error).message}); ` +
        `run again to resume from ${part}`,
      url,
    );
  } finally {
    file.close();
  }
  report(true);
  if (total !== null && bytes !== total) {
    throw new InputError(
      `Download stopped at ${bytes} of ${total} bytes; run again to resume`,
      url,
    );
  }
  if (options.sha256 !== null) {
    const actual = await sha256File(part);
    if (actual !== options.sha256.toLowerCase()) {
      await Deno.remove(part);
      throw new InputError(
        `Checksum mismatch: expected SHA-256 ${options.sha256}, got ${actual}; the partial ` +
          `file was deleted`,
        url,
      );
    }
  }
  await Deno.rename(part, dest);
}

/**
 * SHA-256 of a file, streamed.
 * @param path the file
 * @returns lowercase hex digest
 */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  const file = await Deno.open(path);
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

/** Options of {@linkcode ensureAclImdb}. */
export interface AclImdbOptions {
  /** The cache folder; see {@linkcode defaultCacheDir}. */
  cacheDir?: string;
  /** Where to download the archive from, e.g. a mirror. @default ACL_IMDB_URL */
  url?: string;
  /** Expected SHA-256 (hex) of the archive; null skips the check. @default ACL_IMDB_SHA256 */
  sha256?: string | null;
  /** Download progress, passed on to {@linkcode downloadFile}. */
  onProgress?: (progress: DownloadProgress) => void;
}

/**
 * Makes sure `<cacheDir>/aclImdb` holds the unpacked archive (train/, test/ ...), downloading and
 * unpacking it when absent. The archive is kept, so a lost folder is rebuilt without the network.
 * @param options cache folder, address, checksum, progress
 * @returns the `aclImdb` folder, ready for `loadImdbSplit`
 */
export async function ensureAclImdb(options: AclImdbOptions = {}): Promise<string> {
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const folder = `${cacheDir}/aclImdb`;
  if (await exists(`${folder}/train/pos`)) return folder;
  await Deno.mkdir(cacheDir, { recursive: true });
  const archive = `${cacheDir}/aclImdb_v1.tar.gz`;
  if (!(await exists(archive))) {
    await downloadFile(options.url ?? ACL_IMDB_URL, archive, {
      sha256: options.sha256 === undefined ? ACL_IMDB_SHA256 : options.sha256,
      onProgress: options.onProgress,
    });
  }
  // The archive's members all start with "aclImdb/".
  await extractTarGz(archive, folder, { stripComponents: 1 });
  return folder;
}

/**
 * The data folder to read IMDB from: the flag, else `RLGF_DATA_DIR`, else the download cache
 * (downloading on first use).
 * @param flag the `--data` flag's value, if any
 * @param options download options when neither is set
 * @returns a folder for `loadImdbSplit`
 */
export async function imdbDataDir(flag?: string, options: AclImdbOptions = {}): Promise<string> {
  return resolveDataDir(flag) ?? await ensureAclImdb(options);
}

/**
 * The cache folder: `$RLGF_CACHE_DIR`, else `$XDG_CACHE_HOME/rlgf`, else `~/.cache/rlgf`.
 * @returns a folder path (not created)
 */
export function defaultCacheDir(): string {
  const env = (name: string) => {
    try {
      return Deno.env.get(name);
    } catch {
      return undefined;
    }
  };
  return env("RLGF_CACHE_DIR") ??
    (env("XDG_CACHE_HOME") ? `${env("XDG_CACHE_HOME")}/rlgf` : null) ??
    `${env("HOME") ?? "."}/.cache/rlgf`;
}

function offlineError(url: string, error: Error): InputError {
  return new InputError(
    `Cannot download (${error.message}). If this machine is offline, point at local data ` +
      `instead: pass --data DIR or set ${DATA_DIR_ENV}=DIR, where DIR holds IMDB as ` +
      `train.jsonl.gz/test.jsonl.gz, an aclImdb/ folder, or plain_text/*.parquet`,
    url,
  );
}

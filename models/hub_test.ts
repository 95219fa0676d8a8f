/**
 * Issue 18: models from the hub, against a local server (127.0.0.1, via HF_ENDPOINT) that
 * answers as the hub's `resolve` URLs do: plain files with their git blob SHA-1 as ETag, LFS
 * files redirected to a CDN path with X-Linked-Etag (SHA-256) and ranges. A fetch lays the
 * files out as huggingface_hub does and the model loads from the snapshot; a partial download
 * resumes with a range; a gated model (401) and a missing one (404) are one-line errors; offline,
 * the cache serves and what is missing is named; a corrupted download is refused.
 */
import assert from "node:assert/strict";
import { loadLlama } from "./llama.ts";
import { fetchHubModel, parseHubId, resolveModelDir } from "./hub.ts";

const fixture = new URL("../tests/fixtures/tiny-llama", import.meta.url).pathname;
const COMMIT = "0123456789abcdef0123456789abcdef01234567";
const FILES = ["config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors"];
const LFS = new Set(["model.safetensors"]);

const hex = (buffer: ArrayBuffer) =>
  Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
async function gitSha1(data: Uint8Array) {
  const header = new TextEncoder().encode(`blob ${data.length}\0`);
  const all = new Uint8Array(header.length + data.length);
  all.set(header);
  all.set(data, header.length);
  return hex(await crypto.subtle.digest("SHA-1", all));
}

/** A hub look-alike serving the tiny-llama fixture as org/tiny. */
async function fakeHub(options: { corrupt?: boolean } = {}) {
  const content = new Map<string, Uint8Array<ArrayBuffer>>();
  const etags = new Map<string, string>();
  for (const name of FILES) {
    const data = await Deno.readFile(`${fixture}/${name}`);
    content.set(name, data);
    etags.set(
      name,
      LFS.has(name) ? hex(await crypto.subtle.digest("SHA-256", data)) : await gitSha1(data),
    );
  }
  const log: { method: string; path: string; range: string | null }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const url = new URL(request.url);
    log.push({ method: request.method, path: url.pathname, range: request.headers.get("range") });
    const cdn = url.pathname.match(/^\/cdn\/(\w+)$/);
    if (cdn) {
      const name = [...etags].find(([, e]) => e === cdn[1])![0];
      let data = content.get(name)!;
      if (options.corrupt) data = data.map((b, i) => (i === 100 ? b ^ 1 : b));
      const range = request.headers.get("range")?.match(/^bytes=(\d+)-$/);
      if (range) {
        const from = Number(range[1]);
        return new Response(data.slice(from), {
          status: 206,
          headers: { "content-range": `bytes ${from}-${data.length - 1}/${data.length}` },
        });
      }
      return new Response(data);
    }
    const m = url.pathname.match(/^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/);
    if (!m) return new Response("not found", { status: 404 });
    const [, repo, revision, name] = m;
    if (repo === "org/gated") return new Response("gated", { status: 401 });
    if (repo !== "org/tiny" || !(revision === "main" || revision === COMMIT)) {
      return new Response("Repository not found", { status: 404 });
    }
    const data = content.get(name);
    if (!data) return new Response("Entry not found", { status: 404 });
    const etag = etags.get(name)!;
    const common = { "x-repo-commit": COMMIT };
    if (LFS.has(name)) {
      return new Response(null, {
        status: 302,
        headers: {
          ...common,
          location: `/cdn/${etag}`,
          "x-linked-etag": `"${etag}"`,
          "x-linked-size": String(data.length),
        },
      });
    }
    const headers = { ...common, etag: `"${etag}"`, "content-length": String(data.length) };
    return new Response(request.method === "HEAD" ? null : data, { headers });
  });
  return {
    endpoint: `http://127.0.0.1:${server.addr.port}`,
    log,
    etags,
    content,
    close: () => server.shutdown(),
  };
}

async function withEnv(vars: Record<string, string | undefined>, body: () => Promise<void>) {
  const before = Object.fromEntries(Object.keys(vars).map((k) => [k, Deno.env.get(k)]));
  for (const [k, v] of Object.entries(vars)) {
    v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
  }
  try {
    await body();
  } finally {
    for (const [k, v] of Object.entries(before)) {
      v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
    }
  }
}

Deno.test("parseHubId: org/name[@revision], not paths", () => {
  assert.deepEqual(parseHubId("HuggingFaceTB/SmolLM2-135M"), {
    repo: "HuggingFaceTB/SmolLM2-135M",
    revision: "main",
  });
  assert.deepEqual(parseHubId("Qwen/Qwen2.5-0.5B@v1.0"), {
    repo: "Qwen/Qwen2.5-0.5B",
    revision: "v1.0",
  });
  for (const path of ["./models/x", "../a/b", "a/b/c", "/abs/path", "plain"]) {
    assert.equal(parseHubId(path), null, path);
  }
});

Deno.test("hub: fetch into Hugging Face's cache layout, load, resume, offline, errors", async () => {
  const hub = await fakeHub();
  const cache = await Deno.makeTempDir({ prefix: "rlgf-hub-" });
  const lines: string[] = [];
  const log = (line: string) => lines.push(line);
  try {
    await withEnv(
      { HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cache, HF_HUB_OFFLINE: undefined },
      async () => {
        // a partial blob of the weights, as a killed download leaves it
        const root = `${cache}/models--org--tiny`;
        const weights = hub.content.get("model.safetensors")!;
        await Deno.mkdir(`${root}/blobs`, { recursive: true });
        await Deno.writeFile(
          `${root}/blobs/${hub.etags.get("model.safetensors")}.incomplete`,
          weights.subarray(0, 5_000_000),
        );
        const dir = await resolveModelDir("org/tiny", { log, progressEvery: 2 ** 20 });
        assert.equal(dir, `${root}/snapshots/${COMMIT}`);
        assert.equal((await Deno.readTextFile(`${root}/refs/main`)).trim(), COMMIT);
        const link = await Deno.readLink(`${dir}/model.safetensors`);
        assert.equal(link, `../../blobs/${hub.etags.get("model.safetensors")}`);
        const resumed = hub.log.find((r) => r.path.startsWith("/cdn/") && r.range);
        assert.equal(resumed?.range, "bytes=5000000-", "the partial download resumed");
        assert.ok(
          lines.some((l) => /^hub: model\.safetensors .* MiB\/s \| eta \d+s$/.test(l)),
          lines.join("\n"),
        );
        const model = await loadLlama(dir);
        assert.equal(model.config.hiddenSize, 64);
        model.dispose();
        // a second call finds everything cached: HEAD requests only
        const before = hub.log.length;
        await fetchHubModel({ repo: "org/tiny", revision: "main" }, { log });
        assert.ok(hub.log.slice(before).every((r) => r.method === "HEAD"));
        await assert.rejects(
          resolveModelDir("org/gated", { log }),
          /org\/gated\/resolve\/main\/config\.json: HTTP 401: a gated or private model; .* set HF_TOKEN/,
        );
        await assert.rejects(
          resolveModelDir("org/nope", { log }),
          /org\/nope\/resolve\/main\/config\.json: has no config\.json at this revision/,
        );
        await assert.rejects(
          resolveModelDir("not a model", { log }),
          /neither a folder nor a hub id/,
        );
      },
    );
    await withEnv(
      { HF_ENDPOINT: "http://127.0.0.1:9", HF_HUB_CACHE: cache, HF_HUB_OFFLINE: "1" },
      async () => {
        assert.equal(
          await resolveModelDir("org/tiny", { log }),
          `${cache}/models--org--tiny/snapshots/${COMMIT}`,
        );
        await assert.rejects(
          resolveModelDir("org/other", { log }),
          /org\/other@main: HF_HUB_OFFLINE is set and the cache .* lacks the whole snapshot; .* pass a local model folder/,
        );
      },
    );
  } finally {
    await hub.close();
    await Deno.remove(cache, { recursive: true });
  }
});

Deno.test("hub: a download that does not match its ETag is refused and removed", async () => {
  const hub = await fakeHub({ corrupt: true });
  const cache = await Deno.makeTempDir({ prefix: "rlgf-hub-" });
  try {
    await withEnv(
      { HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cache, HF_HUB_OFFLINE: undefined },
      async () => {
        await assert.rejects(
          resolveModelDir("org/tiny", { log: () => {} }),
          /model\.safetensors: downloaded model\.safetensors does not match the hub's ETag/,
        );
        const blobs = [...Deno.readDirSync(`${cache}/models--org--tiny/blobs`)].map((e) => e.name);
        assert.ok(blobs.every((n) => !n.startsWith(hub.etags.get("model.safetensors")!)));
      },
    );
  } finally {
    await hub.close();
    await Deno.remove(cache, { recursive: true });
  }
});

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { downloadFile, type DownloadProgress, ensureAclImdb, imdbDataDir } from "./download.ts";
import { loadImdbSplit } from "./imdb.ts";
import { extractTarGz, readTar } from "./tar.ts";

/** A ustar header built by hand from the format's field table (POSIX.1-1988). */
function tarHeader(name: string, size: number, flag: string): Uint8Array {
  const h = new Uint8Array(512);
  const put = (text: string, at: number) => h.set(new TextEncoder().encode(text), at);
  const slash = name.length > 100 ? name.lastIndexOf("/", name.length - 2) : -1;
  put(slash === -1 ? name : name.slice(slash + 1), 0);
  if (slash !== -1) put(name.slice(0, slash), 345); // ustar prefix for long paths
  put("0000644\0", 100);
  put("0000000\0", 108);
  put("0000000\0", 116);
  put(size.toString(8).padStart(11, "0") + "\0", 124);
  put("00000000000\0", 136);
  put(flag, 156);
  put("ustar\0" + "00", 257);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i];
  put(sum.toString(8).padStart(6, "0") + "\0 ", 148);
  return h;
}

function tar(members: { name: string; text?: string; flag?: string }[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const m of members) {
    const data = new TextEncoder().encode(m.text ?? "");
    parts.push(tarHeader(m.name, data.length, m.flag ?? (m.text === undefined ? "5" : "0")));
    const padded = new Uint8Array(Math.ceil(data.length / 512) * 512);
    padded.set(data);
    parts.push(padded);
  }
  parts.push(new Uint8Array(1024));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** A small aclImdb-shaped archive; the long name exercises the ustar prefix field. */
async function makeArchive(): Promise<Uint8Array> {
  const long = `aclImdb/test/pos/${"x".repeat(90)}/1_10.txt`;
  return await gzip(tar([
    { name: "aclImdb/" },
    { name: "aclImdb/train/neg/0_3.txt", text: "Dull and far too long" },
    { name: "aclImdb/train/pos/0_9.txt", text: "A lovely film ".repeat(60) },
    { name: "aclImdb/test/neg/0_2.txt", text: "Terrible acting" },
    { name: "aclImdb/test/pos/0_8.txt", text: "Great fun" },
    { name: long, text: "nested" },
  ]));
}

/**
 * Serves `body` on 127.0.0.1 with Range support. While `cutAfter` is set, a full response sends
 * only that many bytes and then breaks the connection.
 */
function serve(body: Uint8Array) {
  const state = { cutAfter: null as number | null, ranges: [] as (string | null)[], hits: 0 };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    state.hits++;
    const range = request.headers.get("range");
    state.ranges.push(range);
    if (range) {
      const start = Number(/bytes=(\d+)-/.exec(range)![1]);
      if (start >= body.length) return new Response(null, { status: 416 });
      return new Response(body.slice(start), {
        status: 206,
        headers: { "content-range": `bytes ${start}-${body.length - 1}/${body.length}` },
      });
    }
    if (state.cutAfter !== null) {
      const cut = state.cutAfter;
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(body.slice(0, cut));
          setTimeout(() => controller.error(new Error("connection reset")), 20);
        },
      });
      return new Response(stream, { headers: { "content-length": String(body.length) } });
    }
    return new Response(body.slice(), { headers: { "content-length": String(body.length) } });
  });
  const url = `http://127.0.0.1:${server.addr.port}/aclImdb_v1.tar.gz`;
  return { server, state, url };
}

async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("readTar() reads members and ustar long names from a hand-built archive", async () => {
  const bytes = tar([{ name: "d/" }, { name: "d/a.txt", text: "hello" }]);
  const entries = [];
  for await (
    const e of readTar(ReadableStream.from([bytes.slice(0, 700), bytes.slice(700)]), "t")
  ) {
    entries.push([e.name, e.type, new TextDecoder().decode(e.data)]);
  }
  assert.deepEqual(entries, [["d/", "directory", ""], ["d/a.txt", "file", "hello"]]);
});

Deno.test("readTar() takes long names from GNU 'L' and pax 'path' records", async () => {
  const gnuName = "g/" + "n".repeat(120) + ".txt";
  const paxName = "p/" + "q".repeat(150) + ".txt";
  const record = ` path=${paxName}\n`;
  // A pax record's length counts its own digits: find the fixed point.
  let length = record.length;
  while (String(length).length + record.length !== length) {
    length = String(length).length + record.length;
  }
  const bytes = tar([
    { name: "././@LongLink", text: gnuName + "\0", flag: "L" },
    { name: "short-1", text: "gnu" },
    { name: "PaxHeaders/x", text: `${length}${record}`, flag: "x" },
    { name: "short-2", text: "pax" },
    { name: "plain.txt", text: "plain" },
  ]);
  const entries = [];
  for await (const e of readTar(ReadableStream.from([bytes]), "t")) {
    entries.push([e.name, new TextDecoder().decode(e.data)]);
  }
  assert.deepEqual(entries, [[gnuName, "gnu"], [paxName, "pax"], ["plain.txt", "plain"]]);
});

Deno.test("extractTarGz() rejects a corrupt header and leaves no folder behind", async () => {
  await withDir(async (dir) => {
    const bytes = tar([{ name: "a.txt", text: "x" }, { name: "b.txt", text: "y" }]);
    bytes[1024 + 5] ^= 1; // flip a bit in the second member's header
    await Deno.writeFile(`${dir}/bad.tar.gz`, await gzip(bytes));
    await assert.rejects(() => extractTarGz(`${dir}/bad.tar.gz`, `${dir}/out`), {
      name: "InputError",
      message: /bad\.tar\.gz \(header at byte 1024\): Corrupt tar header/,
    });
    const names = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assert.deepEqual(names, ["bad.tar.gz"]);
  });
});

Deno.test("ensureAclImdb() downloads, verifies, unpacks and loads like the real layout", async () => {
  const archive = await makeArchive();
  const { server, state, url } = serve(archive);
  try {
    await withDir(async (dir) => {
      const progress: DownloadProgress[] = [];
      const folder = await ensureAclImdb({
        cacheDir: dir,
        url,
        sha256: sha256(archive),
        onProgress: (p) => progress.push(p),
      });
      assert.equal(folder, `${dir}/aclImdb`);
      const last = progress.at(-1)!;
      assert.equal(last.bytes, archive.length);
      assert.equal(last.total, archive.length);
      assert.equal(last.etaSeconds, 0);
      const train = await loadImdbSplit(folder, "train");
      assert.deepEqual(train.map((r) => [r.id, r.label]), [["neg/0_3", 0], ["pos/0_9", 1]]);
      assert.equal(
        await Deno.readTextFile(`${folder}/test/pos/${"x".repeat(90)}/1_10.txt`),
        "nested",
      );
      // A second call finds the folder: no request is made.
      const hits = state.hits;
      assert.equal(await imdbDataDir(undefined, { cacheDir: dir, url }), folder);
      assert.equal(state.hits, hits);
      // A flag wins over the cache.
      assert.equal(await imdbDataDir("/some/data/", { cacheDir: dir, url }), "/some/data");
    });
  } finally {
    await server.shutdown();
  }
});

Deno.test("downloadFile() resumes an interrupted download with a Range request", async () => {
  const archive = await makeArchive();
  const { server, state, url } = serve(archive);
  try {
    await withDir(async (dir) => {
      const dest = `${dir}/a.tar.gz`;
      const half = Math.floor(archive.length / 2);
      state.cutAfter = half;
      await assert.rejects(() => downloadFile(url, dest, { sha256: sha256(archive) }), {
        name: "InputError",
        message: /run again to resume/,
      });
      assert.equal((await Deno.stat(`${dest}.part`)).size, half);
      state.cutAfter = null;
      await downloadFile(url, dest, { sha256: sha256(archive) });
      assert.deepEqual(state.ranges, [null, `bytes=${half}-`]);
      assert.deepEqual(await Deno.readFile(dest), archive);
      await assert.rejects(() => Deno.stat(`${dest}.part`), Deno.errors.NotFound);
    });
  } finally {
    await server.shutdown();
  }
});

Deno.test("downloadFile() deletes the file and names both digests on a checksum mismatch", async () => {
  const archive = await makeArchive();
  const { server, url } = serve(archive);
  try {
    await withDir(async (dir) => {
      const wrong = "0".repeat(64);
      await assert.rejects(() => downloadFile(url, `${dir}/a.tar.gz`, { sha256: wrong }), {
        message: new RegExp(`expected SHA-256 ${wrong}, got ${sha256(archive)}`),
      });
      const names = [];
      for await (const e of Deno.readDir(dir)) names.push(e.name);
      assert.deepEqual(names, []);
    });
  } finally {
    await server.shutdown();
  }
});

Deno.test("ensureAclImdb() offline says how to point at local data", async () => {
  // A port that was just closed: the connection is refused, as when offline.
  const { server, url } = serve(new Uint8Array());
  await server.shutdown();
  await withDir(async (dir) => {
    await assert.rejects(() => ensureAclImdb({ cacheDir: dir, url }), (e: Error) => {
      assert.equal(e.name, "InputError");
      assert.match(e.message, /^http:\/\/127\.0\.0\.1:\d+\/aclImdb_v1\.tar\.gz: Cannot download/);
      assert.match(e.message, /pass --data DIR or set RLGF_DATA_DIR=DIR/);
      return true;
    });
  });
});

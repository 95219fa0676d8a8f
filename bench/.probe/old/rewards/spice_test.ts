import assert from "node:assert/strict";
import { ConfigError } from "../core/errors.ts";
import { parseSpiceOutput, spice } from "./spice.ts";

const isWindows = Deno.build.os === "windows";

/** Writes a fake `java` that saves its arguments and input, then copies a canned result to -out. */
async function fakeJava(dir: string, result: unknown): Promise<string> {
  await Deno.writeTextFile(`${dir}/result.json`, JSON.stringify(result));
  const script = `#!/bin/sh
printf '%s\\n' "$@" > "${dir}/args.txt"
cp "$4" "${dir}/input_seen.json"
out=""
while [ $# -gt 0 ]; do
  if [ "$1" = "-out" ]; then out="$2"; fi
  shift
done
cp "${dir}/result.json" "$out"
`;
  await Deno.writeTextFile(`${dir}/java`, script);
  await Deno.chmod(`${dir}/java`, 0o755);
  await Deno.writeTextFile(`${dir}/spice-1.0.jar`, "not a real jar");
  return `${dir}/java`;
}

Deno.test({
  name: "spice() writes the jar's input JSON and reads its All F-scores",
  ignore: isWindows,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const javaPath = await fakeJava(dir, [
        { image_id: 1, scores: { All: { pr: 0.5, re: 0.25, f: 1 / 3 }, Object: { f: "NaN" } } },
        { image_id: 0, scores: { All: { pr: 1, re: 0.5, f: 2 / 3, numImages: 1 } } },
      ]);
      const r = await spice(["a dog runs", "a cat"], [["a dog is running"], ["a cat", "the cat"]], {
        javaPath,
        jarPath: `${dir}/spice-1.0.jar`,
        cacheDir: `${dir}/cache`,
      });
      assert.deepEqual(r.perItem, [2 / 3, 1 / 3]);
      assert.equal(r.corpus, 0.5);
      assert.ok(Number.isNaN(r.details[1].Object.f));
      const input = JSON.parse(await Deno.readTextFile(`${dir}/input_seen.json`));
      assert.deepEqual(input, [
        { image_id: 0, test: "a dog runs", refs: ["a dog is running"] },
        { image_id: 1, test: "a cat", refs: ["a cat", "the cat"] },
      ]);
      const args = (await Deno.readTextFile(`${dir}/args.txt`)).trim().split("\n");
      assert.deepEqual(args.slice(0, 3), ["-jar", "-Xmx8G", `${dir}/spice-1.0.jar`]);
      assert.deepEqual(args.slice(4), [
        "-cache",
        `${dir}/cache`,
        "-out",
        args[7],
        "-subset",
        "-silent",
      ]);
      assert.equal((await Deno.stat(`${dir}/cache`)).isDirectory, true);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("spice() names the missing jar", async () => {
  await assert.rejects(
    () => spice(["a"], [["a"]], { jarPath: "/nonexistent/spice-1.0.jar" }),
    (e: Error) =>
      e instanceof ConfigError && /spice\.jarPath/.test(e.message) &&
      /\/nonexistent\/spice-1\.0\.jar/.test(e.message),
  );
});

Deno.test("spice() names the missing java executable", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/spice-1.0.jar`, "");
    await assert.rejects(
      () => spice(["a"], [["a"]], { jarPath: `${dir}/spice-1.0.jar`, javaPath: `${dir}/no-java` }),
      (e: Error) =>
        e instanceof ConfigError && /spice\.javaPath/.test(e.message) &&
        e.message.includes(`${dir}/no-java`),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parseSpiceOutput() names a missing item and a malformed entry", () => {
  assert.throws(
    () => parseSpiceOutput("[]", 1, "out.json"),
    /out\.json: Expected a result for image_id 0/,
  );
  assert.throws(
    () => parseSpiceOutput('[{"image_id": 0, "scores": {}}]', 1, "out.json"),
    /out\.json\[0\]\.scores/,
  );
  assert.throws(() => parseSpiceOutput("{", 1, "out.json"), /out\.json: Expected JSON/);
});

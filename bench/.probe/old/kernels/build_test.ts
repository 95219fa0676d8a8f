import assert from "node:assert/strict";
import { buildKernels, CLANG_MAJOR, clangMajor } from "./build.ts";
import { GEMM_SHARED_WASM_BASE64, GEMM_WASM_BASE64 } from "./gemm_wasm.ts";

const here = (name: string) => new URL(`./${name}`, import.meta.url);

function base64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

Deno.test("the embedded kernels are the committed .wasm files", async () => {
  assert.equal(GEMM_WASM_BASE64, base64(await Deno.readFile(here("gemm.wasm"))));
  assert.equal(GEMM_SHARED_WASM_BASE64, base64(await Deno.readFile(here("gemm_shared.wasm"))));
});

/** Section ids of a WebAssembly binary, in order. */
function sectionIds(bytes: Uint8Array): number[] {
  const ids: number[] = [];
  let at = 8; // magic and version
  while (at < bytes.length) {
    ids.push(bytes[at++]);
    let size = 0;
    for (let shift = 0;; shift += 7) {
      const byte = bytes[at++];
      size += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) break;
    }
    at += size;
  }
  return ids;
}

Deno.test("the kernels import only a memory and bring no data into it", async () => {
  // tfjs-wasm owns every byte of the memory they import: a data segment would overwrite its heap
  for (const name of ["gemm.wasm", "gemm_shared.wasm"]) {
    const bytes = await Deno.readFile(here(name));
    const imports = WebAssembly.Module.imports(new WebAssembly.Module(bytes));
    assert.deepEqual(imports, [{ module: "env", name: "memory", kind: "memory" }], name);
    const data = 11;
    assert.ok(!sectionIds(bytes).includes(data), `${name} has a data section`);
  }
});

const major = await clangMajor();
const reason = major === null
  ? "clang is not installed (apt-get install -y clang lld)"
  : `clang ${major} is not the clang ${CLANG_MAJOR} the binaries were built with`;

Deno.test({
  name: "rebuilding kernels/gemm.c reproduces the committed binaries byte for byte",
  ignore: major !== CLANG_MAJOR,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      await buildKernels(dir);
      for (const name of ["gemm.wasm", "gemm_shared.wasm", "gemm_wasm.ts"]) {
        const rebuilt = await Deno.readFile(`${dir}/${name}`);
        assert.deepEqual(rebuilt, await Deno.readFile(here(name)), `${name} differs`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

if (major !== CLANG_MAJOR) console.warn(`Skipping the rebuild test: ${reason}`);

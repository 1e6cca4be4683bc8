// Builds the browser sealing module into service/web/static/ (ES modules):
//   seal.js         the page's module (src/seal.js and what it imports)
//   seal-worker.js  the Worker (src/seal-worker.js), loaded by seal.js
//   witness-page.js the form page's script (src/witness-page.js: the sealing
//                   module, forms/static/validate.js and the page logic)
//   page.js         the other witness pages' script (src/common-page.js)
//   return-page.js  the return page's script (src/return-page.js: replies and
//                   follow-ups with the receipt code)
//   offline-page.js the offline sealing page's script (src/offline-page.js),
//                   inlined with offline-seal-worker.js by service/web/offline.py
//   offline-seal-worker.js  src/seal-worker.js as a classic script (IIFE): a
//                   page opened from file:// can start a Worker only from a
//                   Blob URL, and only a classic one
//   integrity.json  SHA-384 subresource-integrity values of every file
// The build is reproducible: `npm ci && npm run build` writes the same bytes.
// `node build.mjs --check` builds into a temporary folder and fails unless
// the result equals what is in service/web/static/.
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const staticDir = resolve(here, "../static");
const outputs = [
  "seal.js",
  "seal-worker.js",
  "witness-page.js",
  "page.js",
  "return-page.js",
  "offline-page.js",
  "offline-seal-worker.js",
];

async function bundle(outdir) {
  await build({
    absWorkingDir: here,
    entryPoints: {
      seal: "src/seal.js",
      "seal-worker": "src/seal-worker.js",
      "witness-page": "src/witness-page.js",
      page: "src/common-page.js",
      "return-page": "src/return-page.js",
      "offline-page": "src/offline-page.js",
    },
    outdir,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: ["es2022"],
    minify: true,
    legalComments: "eof",
    charset: "utf8",
    // @hpke/common falls back to node:crypto on old Node.js only; never in a browser.
    external: ["crypto"],
    logLevel: "warning",
    metafile: false,
  });
  await build({
    absWorkingDir: here,
    entryPoints: { "offline-seal-worker": "src/seal-worker.js" },
    outdir,
    bundle: true,
    format: "iife",
    platform: "browser",
    target: ["es2022"],
    minify: true,
    legalComments: "eof",
    charset: "utf8",
    external: ["crypto"],
    logLevel: "warning",
    metafile: false,
  });
  const integrity = {};
  for (const name of outputs) {
    const digest = createHash("sha384").update(readFileSync(join(outdir, name))).digest("base64");
    integrity[name] = `sha384-${digest}`;
  }
  writeFileSync(join(outdir, "integrity.json"), JSON.stringify(integrity, null, 2) + "\n");
  return [...outputs, "integrity.json"];
}

if (process.argv.includes("--check")) {
  const outdir = mkdtempSync(join(tmpdir(), "testimony-seal-"));
  try {
    const names = await bundle(outdir);
    const differ = names.filter((name) => {
      const committed = join(staticDir, name);
      return !existsSync(committed) || !readFileSync(committed).equals(readFileSync(join(outdir, name)));
    });
    if (differ.length > 0) {
      console.error(`service/web/static/ is not the build of service/web/js/: ${differ.join(", ")} differ; run npm run build`);
      process.exit(1);
    }
    console.log("service/web/static/ matches the build");
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
} else {
  const names = await bundle(staticDir);
  for (const name of names) {
    const bytes = readFileSync(join(staticDir, name));
    console.log(`${name} ${bytes.length} bytes sha256 ${createHash("sha256").update(bytes).digest("hex")}`);
  }
}

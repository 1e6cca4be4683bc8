/**
 * The sealing Worker: bulk work that would freeze the page (Chromium does not
 * yield between awaited WebCrypto calls): attachment sealing and hashing and
 * making ranges of a sealed attachment for upload (§3, §6), Argon2id (§7)
 * and proof of work (§8). The page talks to it through
 * `worker-client.js`: a message `{id, op, args}` is answered by
 * `{id, result}` or `{id, error: {code, message}}`, with `{id, progress}`
 * messages in between. Each Worker runs one operation and is then ended,
 * which also frees Argon2id's 64 MiB.
 *
 * Needs `'wasm-unsafe-eval'` in the CSP script-src (hash-wasm is WASM).
 */
import { argon2id } from "hash-wasm";
import { encryptRange, hashFile, sealFile } from "./file-seal.js";
import { findNonce } from "./pow.js";

export const ARGON2 = {
  salt: "testimony/v1 receipt",
  iterations: 3,
  parallelism: 1,
  memorySize: 65536,
  hashLength: 64,
};

const operations = {
  sealFile: ({ file, key }, progress) => sealFile(file, key, { onProgress: progress }),
  encryptRange: ({ file, key, start, end }) => encryptRange(file, key, start, end),
  hashFile: ({ file }) => hashFile(file),
  argon2: ({ password }) => argon2id({ password, ...ARGON2, outputType: "binary" }),
  pow: ({ challenge, bits }, progress) => findNonce(challenge, bits, { onProgress: progress }),
};

self.onmessage = async (event) => {
  const { id, op, args } = event.data;
  try {
    const operation = operations[op];
    if (operation === undefined) throw Object.assign(new Error("unknown operation"), { code: "malformed-input" });
    const result = await operation(args, (progress) => self.postMessage({ id, progress }));
    // Bytes are handed over, not copied.
    self.postMessage({ id, result }, result instanceof Uint8Array ? [result.buffer] : []);
  } catch (error) {
    self.postMessage({ id, error: { code: error.code ?? "crypto-error", message: String(error.message ?? error) } });
  }
};

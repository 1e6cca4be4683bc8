/**
 * Proof of work (docs/protocol.md §8): find `nonce` with H(challenge || nonce)
 * having at least `bits` leading zero bits. The nonce is 8 bytes (a counter
 * from a random start). Run in the Worker (`solvePow` in seal.js).
 */
import { createSHA256 } from "hash-wasm";
import { check } from "./errors.js";

/** Bits of difficulty accepted: more than this would run for days. */
export const MAX_BITS = 40;
export const NONCE_BYTES = 8;

/** The number of leading zero bits of a digest. */
export function leadingZeroBits(digest) {
  let bits = 0;
  for (const byte of digest) {
    if (byte === 0) {
      bits += 8;
      continue;
    }
    return bits + Math.clz32(byte) - 24;
  }
  return bits;
}

/**
 * The nonce (8 bytes) for `challenge` (bytes) at `bits` of difficulty.
 * `onProgress(attempts)` is told every 65,536 attempts.
 */
export async function findNonce(challenge, bits, { onProgress, start } = {}) {
  check(Number.isInteger(bits) && bits >= 0 && bits <= MAX_BITS, `a difficulty is 0 to ${MAX_BITS} bits`);
  const hasher = await createSHA256();
  const input = new Uint8Array(challenge.length + NONCE_BYTES);
  input.set(challenge);
  const view = new DataView(input.buffer);
  const first = start ?? crypto.getRandomValues(new Uint32Array(2));
  let high = first[0] >>> 0;
  let low = first[1] >>> 0;
  for (let attempts = 1; ; attempts++) {
    view.setUint32(challenge.length, high);
    view.setUint32(challenge.length + 4, low);
    hasher.init();
    hasher.update(input);
    if (leadingZeroBits(hasher.digest("binary")) >= bits) return input.slice(challenge.length);
    low = (low + 1) >>> 0;
    if (low === 0) high = (high + 1) >>> 0;
    if (onProgress && (attempts & 0xffff) === 0) onProgress(attempts);
  }
}

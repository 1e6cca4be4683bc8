/**
 * STREAM: chunked AES-256-GCM encryption of one byte string (docs/protocol.md §2),
 * over WebCrypto.
 *
 * A 32-byte key encrypts one plaintext only. The plaintext is cut into
 * 65,536-byte chunks (the last may be shorter; an empty plaintext is one empty
 * chunk) and chunk i of n is sealed with the nonce `i as 11 bytes || (0x01 if
 * i == n-1 else 0x00)`; the ciphertext is the sealed chunks concatenated.
 *
 * Decryption cuts 65,552-byte chunks; a chunk is final exactly when the input
 * ends with it. Failures carry the same codes as `testimony.crypto.stream`:
 * "stream-truncated" (empty, or cut after a chunk), "stream-short-chunk" (a
 * final chunk shorter than a tag, or an empty final chunk after others),
 * "stream-misplaced-final", "stream-trailing-data" and "stream-bad-tag",
 * told apart by the same re-tries as there.
 */
import { SealError, check } from "./errors.js";
import { viewBytes } from "./bytes.js";

export const KEY_SIZE = 32;
export const CHUNK = 65536;
export const TAG = 16;
export const CIPHERTEXT_CHUNK = CHUNK + TAG;

/** `nonce_i`: `index` as 11 big-endian bytes, then 0x01 if final else 0x00. */
export function nonce(index, final) {
  const iv = new Uint8Array(12);
  let rest = index;
  for (let i = 10; i >= 0 && rest > 0; i--) {
    iv[i] = rest % 256;
    rest = Math.floor(rest / 256);
  }
  iv[11] = final ? 1 : 0;
  return iv;
}

/** The number of chunks of a plaintext of `length` bytes: max(1, ceil(length / CHUNK)). */
export function chunkCount(length) {
  return Math.max(1, Math.ceil(length / CHUNK));
}

/** The length of STREAM(K, P) for a plaintext of `length` bytes. */
export function ciphertextLength(length) {
  check(Number.isSafeInteger(length) && length >= 0, "a length is a non-negative integer");
  return length + chunkCount(length) * TAG;
}

/**
 * A WebCrypto AES-256-GCM key for STREAM from 32 raw bytes (non-extractable).
 * A CryptoKey is passed through. Raises "malformed-input" for any other length.
 */
export async function streamKey(key) {
  if (typeof CryptoKey !== "undefined" && key instanceof CryptoKey) return key;
  const raw = viewBytes(key);
  check(raw.length === KEY_SIZE, "a STREAM key is 32 bytes");
  return crypto.subtle.importKey("raw", raw, { name: "AES-GCM" }, false, ["encrypt", "decrypt"]);
}

/** AES-GCM encryption of one chunk; resolves to an ArrayBuffer (chunk + tag). */
export function sealChunk(cryptoKey, index, final, chunk) {
  return crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce(index, final) }, cryptoKey, chunk);
}

/**
 * STREAM(key, data) of bytes held in memory, as a new Uint8Array.
 * `key` is 32 bytes or a key from `streamKey`.
 */
export async function streamEncrypt(key, data) {
  const cryptoKey = await streamKey(key);
  const plaintext = viewBytes(data);
  const n = chunkCount(plaintext.length);
  const out = new Uint8Array(ciphertextLength(plaintext.length));
  for (let i = 0; i < n; i++) {
    const chunk = plaintext.subarray(i * CHUNK, Math.min((i + 1) * CHUNK, plaintext.length));
    const sealed = await sealChunk(cryptoKey, i, i === n - 1, chunk);
    out.set(new Uint8Array(sealed), i * CIPHERTEXT_CHUNK);
  }
  return out;
}

async function opens(cryptoKey, iv, chunk) {
  try {
    await crypto.subtle.decrypt({ name: "AES-GCM", iv }, cryptoKey, chunk);
    return true;
  } catch {
    return false;
  }
}

// Why chunk `index` did not verify in its place (as testimony.crypto.stream._diagnose).
async function diagnose(cryptoKey, index, chunk, following) {
  if (!(await opens(cryptoKey, nonce(index, following !== null), chunk))) {
    return new SealError("stream-bad-tag", `STREAM chunk ${index} does not authenticate`);
  }
  if (following === null) {
    return new SealError("stream-truncated", `STREAM ciphertext ends after non-final chunk ${index}`);
  }
  if (
    (await opens(cryptoKey, nonce(index + 1, false), following)) ||
    (await opens(cryptoKey, nonce(index + 1, true), following))
  ) {
    return new SealError("stream-misplaced-final", `STREAM chunk ${index} is marked final but the stream goes on`);
  }
  return new SealError("stream-trailing-data", `STREAM ciphertext has data after its final chunk ${index}`);
}

/**
 * The plaintext of a STREAM ciphertext held in memory, as a new Uint8Array.
 * Returns only when every chunk verifies; raises a SealError with one of the
 * stream codes above otherwise.
 */
export async function streamDecrypt(key, data) {
  const cryptoKey = await streamKey(key);
  const ciphertext = viewBytes(data);
  const length = ciphertext.length;
  if (length === 0) throw new SealError("stream-truncated", "the STREAM ciphertext is empty: no final chunk");
  const n = Math.ceil(length / CIPHERTEXT_CHUNK);
  const finalLength = length - (n - 1) * CIPHERTEXT_CHUNK;
  const out = new Uint8Array((n - 1) * CHUNK + Math.max(0, finalLength - TAG));
  for (let i = 0; i < n; i++) {
    const chunk = ciphertext.subarray(i * CIPHERTEXT_CHUNK, Math.min((i + 1) * CIPHERTEXT_CHUNK, length));
    const final = i === n - 1;
    // A final chunk holds a tag, and more than a tag unless it is the only one;
    // checked when the chunk is reached, as testimony.crypto.stream does.
    if (final && chunk.length < TAG) {
      throw new SealError("stream-short-chunk", `STREAM final chunk ${i} is shorter than a tag`);
    }
    if (final && chunk.length === TAG && i > 0) {
      throw new SealError("stream-short-chunk", `STREAM final chunk ${i} is empty after other chunks`);
    }
    let opened;
    try {
      opened = await crypto.subtle.decrypt({ name: "AES-GCM", iv: nonce(i, final) }, cryptoKey, chunk);
    } catch {
      const following = final
        ? null
        : ciphertext.subarray((i + 1) * CIPHERTEXT_CHUNK, Math.min((i + 2) * CIPHERTEXT_CHUNK, length));
      throw await diagnose(cryptoKey, i, chunk, following);
    }
    out.set(new Uint8Array(opened), i * CHUNK);
  }
  return out;
}

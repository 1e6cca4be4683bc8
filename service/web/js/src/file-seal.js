/**
 * Sealing one attachment held in a Blob or File (docs/protocol.md §3 step 1), for
 * the Worker. `C = STREAM(K, pad(file bytes))` is never stored: a first pass
 * computes `blob = hex(H(C))` (and, in a second Worker at the same time, the
 * manifest's `sha256 = hex(H(file bytes))`, `hashFile`); the bytes of C are then made
 * again, range by range, while they are uploaded (`encryptRange`). AES-GCM
 * under STREAM's nonces is deterministic, so both passes give the same bytes,
 * and the server checks the whole against the blob id anyway (§6).
 *
 * This keeps memory at a few chunks whatever the file's size (a witness's
 * phone cannot hold a long video twice), and it is faster: in Chromium,
 * putting the ciphertext into Blobs costs as much CPU as hashing it.
 *
 * The first pass reads the file with `Blob.stream()` (several times faster
 * than `slice().arrayBuffer()` in Chromium), cuts 64 KiB chunks followed by
 * the Padmé zeros, keeps a few chunks in flight in WebCrypto AES-GCM, and
 * feeds each sealed chunk to a streaming SHA-256 (hash-wasm) while later
 * chunks are still being encrypted.
 */
import { createSHA256 } from "hash-wasm";
import { hexEncode } from "./bytes.js";
import { SealError, check } from "./errors.js";
import { padme } from "./padding.js";
import { CHUNK, CIPHERTEXT_CHUNK, TAG, chunkCount, sealChunk, streamKey } from "./stream.js";

const IN_FLIGHT = 8;
const PROGRESS_EVERY = 64; // chunks (4 MiB)

function changed() {
  return new SealError("malformed-input", "the file changed while it was read");
}

/**
 * The n chunks of pad(file bytes), each a fresh zero-filled Uint8Array of
 * CHUNK bytes but the last (an empty plaintext gives one empty chunk): the
 * file's bytes are copied in, and what is left of the chunks is the Padmé
 * zeros.
 */
async function* paddedChunks(file) {
  const size = file.size;
  const padded = padme(size);
  const n = chunkCount(padded);
  const lengthOf = (index) => Math.min(CHUNK, padded - index * CHUNK);
  let index = 0;
  let chunk = new Uint8Array(lengthOf(0));
  let filled = 0;
  let read = 0;
  const reader = file.stream().getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      read += value.length;
      if (read > size) throw changed();
      let offset = 0;
      while (offset < value.length) {
        const take = Math.min(chunk.length - filled, value.length - offset);
        chunk.set(value.subarray(offset, offset + take), filled);
        filled += take;
        offset += take;
        if (filled === chunk.length && index < n - 1) {
          yield chunk;
          index++;
          chunk = new Uint8Array(lengthOf(index));
          filled = 0;
        }
      }
    }
  } finally {
    reader.releaseLock();
  }
  if (read !== size) throw changed();
  for (; index < n - 1; index++) {
    yield chunk;
    chunk = new Uint8Array(lengthOf(index + 1));
  }
  yield chunk;
}

/** The length of STREAM(K, pad(file)) for a file of `size` bytes. */
export function sealedLength(size) {
  const padded = padme(size);
  return padded + chunkCount(padded) * TAG;
}

/**
 * The first pass over `file` (a Blob) with the 32-byte `key`: resolves to
 * `{blob: hex H(ciphertext), size, sealedSize}`. The file's own SHA-256 is
 * computed by `hashFile` in a second Worker at the same time.
 * `onProgress(bytes)` is told how many bytes of the file are sealed, every 4 MiB.
 */
export async function sealFile(file, key, { onProgress } = {}) {
  const size = file.size;
  const n = chunkCount(padme(size));
  const cryptoKey = await streamKey(key);
  const ciphertextHash = await createSHA256();
  ciphertextHash.init();
  const pending = [];
  let hashed = 0;
  const drainOne = async () => {
    ciphertextHash.update(new Uint8Array(await pending.shift()));
    hashed++;
    if (onProgress && hashed % PROGRESS_EVERY === 0) onProgress(Math.min(size, hashed * CHUNK));
  };
  let index = 0;
  for await (const chunk of paddedChunks(file)) {
    pending.push(sealChunk(cryptoKey, index, index === n - 1, chunk));
    index++;
    if (pending.length >= IN_FLIGHT) await drainOne();
  }
  while (pending.length > 0) await drainOne();
  if (onProgress) onProgress(size);
  return {
    blob: hexEncode(ciphertextHash.digest("binary")),
    size,
    sealedSize: sealedLength(size),
  };
}

/**
 * Bytes [start, end) of STREAM(key, pad(file)), made again from the file:
 * the chunks that cover the range are read, padded, encrypted and cut.
 * Raises "malformed-input" for a range outside the ciphertext, or when the
 * file is shorter than it was.
 */
export async function encryptRange(file, key, start, end) {
  const size = file.size;
  const padded = padme(size);
  const n = chunkCount(padded);
  const total = sealedLength(size);
  check(Number.isSafeInteger(start) && Number.isSafeInteger(end) && start >= 0 && start <= end && end <= total,
    "a range inside the ciphertext");
  const out = new Uint8Array(end - start);
  if (start === end) return out;
  const first = Math.floor(start / CIPHERTEXT_CHUNK);
  const last = Math.floor((end - 1) / CIPHERTEXT_CHUNK);
  const plainStart = first * CHUNK;
  const plainEnd = Math.min((last + 1) * CHUNK, padded);
  const plaintext = new Uint8Array(plainEnd - plainStart); // zeros past the file: the padding
  if (plainStart < size) {
    const bytes = new Uint8Array(await file.slice(plainStart, Math.min(plainEnd, size)).arrayBuffer());
    if (bytes.length !== Math.min(plainEnd, size) - plainStart) throw changed();
    plaintext.set(bytes);
  }
  const cryptoKey = await streamKey(key);
  const sealed = [];
  for (let index = first; index <= last; index++) {
    const offset = (index - first) * CHUNK;
    sealed.push(sealChunk(cryptoKey, index, index === n - 1, plaintext.subarray(offset, offset + CHUNK)));
  }
  for (let index = first; index <= last; index++) {
    const chunk = new Uint8Array(await sealed[index - first]);
    const chunkStart = index * CIPHERTEXT_CHUNK;
    const from = Math.max(start, chunkStart);
    const to = Math.min(end, chunkStart + chunk.length);
    out.set(chunk.subarray(from - chunkStart, to - chunkStart), from - start);
  }
  return out;
}

/** hex(H(file bytes)) of a Blob, read as a stream. */
export async function hashFile(file) {
  const hash = await createSHA256();
  hash.init();
  const reader = file.stream().getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      hash.update(value);
    }
  } finally {
    reader.releaseLock();
  }
  return hexEncode(hash.digest("binary"));
}

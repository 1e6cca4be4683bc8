/**
 * Padmé padding of plaintext lengths (docs/protocol.md §3; Nikitin et al., PETS
 * 2019). `pad(x)` is `x` followed by zero bytes up to `padme(len(x))`.
 * Readers never require padding: attachments are cut to their manifest
 * `size`, and a body's trailing zero bytes are stripped.
 */
import { check, SealError } from "./errors.js";

/**
 * The Padmé length of `length` (a non-negative safe integer): for L >= 2,
 * E = floor(log2 L), S = floor(log2 E) + 1, z = E - S, L rounded up to a
 * multiple of 2^z; padme(0) = 0, padme(1) = 1. Raises "malformed-input".
 */
export function padme(length) {
  check(Number.isSafeInteger(length) && length >= 0, "a length is a non-negative integer");
  if (length < 2) return length;
  let e = 0; // floor(log2 L), exactly (Math.log2 may round near powers of two)
  while (2 ** (e + 1) <= length) e++;
  const s = 32 - Math.clz32(e); // floor(log2 E) + 1
  const step = 2 ** (e - s);
  return Math.ceil(length / step) * step;
}

/** `data` followed by zero bytes up to its Padmé length, as a new Uint8Array. */
export function pad(data) {
  const out = new Uint8Array(padme(data.byteLength));
  out.set(new Uint8Array(data.buffer ?? data, data.byteOffset ?? 0, data.byteLength));
  return out;
}

/** A body's plaintext without its trailing zero bytes (a view). */
export function unpadBody(plaintext) {
  let end = plaintext.length;
  while (end > 0 && plaintext[end - 1] === 0) end--;
  return plaintext.subarray(0, end);
}

/** The first `size` bytes of an attachment's plaintext; "bad-padding" if shorter. */
export function unpadAttachment(plaintext, size) {
  check(Number.isSafeInteger(size) && size >= 0, "a size is a non-negative integer");
  if (plaintext.length < size) throw new SealError("bad-padding", "the attachment is shorter than its size");
  return plaintext.subarray(0, size);
}

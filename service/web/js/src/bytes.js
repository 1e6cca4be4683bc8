/**
 * Byte encodings of docs/protocol.md §0: b64u (base64url without padding), hex
 * (lowercase), standard padded base64 (signed notes, §9), UTF-8, and H
 * (SHA-256 through WebCrypto). Decoders are strict: one value has exactly one
 * accepted spelling, as in `testimony.crypto.encoding`.
 */
import { SealError, check } from "./errors.js";

const B64U = /^[A-Za-z0-9_-]*$/;
const B64STD = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const HEX = /^(?:[0-9a-f]{2})*$/;
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const DECODE = new Int16Array(128).fill(-1);
for (let i = 0; i < 64; i++) DECODE[ALPHABET.charCodeAt(i)] = i;
DECODE["-".charCodeAt(0)] = 62;
DECODE["_".charCodeAt(0)] = 63;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** A fresh Uint8Array copy of any ArrayBuffer or view (an exact-size buffer). */
export function toBytes(data) {
  if (data instanceof ArrayBuffer) return new Uint8Array(data.slice(0));
  if (ArrayBuffer.isView(data)) {
    return new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  }
  throw new SealError("malformed-input", "expected bytes (ArrayBuffer or typed array)");
}

/** A Uint8Array view of an ArrayBuffer or view, without copying. */
export function viewBytes(data) {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new SealError("malformed-input", "expected bytes (ArrayBuffer or typed array)");
}

/** The concatenation of byte arrays, as one new Uint8Array. */
export function concat(...parts) {
  let length = 0;
  for (const part of parts) length += part.byteLength;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(viewBytes(part), offset);
    offset += part.byteLength;
  }
  return out;
}

/** Whether two byte arrays are equal (constant time in their contents). */
export function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** UTF-8 bytes of a string. Lone surrogates are refused. */
export function utf8(text) {
  check(typeof text === "string" && text.isWellFormed(), "expected well-formed text");
  return encoder.encode(text);
}

/** The text of UTF-8 bytes; invalid UTF-8 raises. */
export function fromUtf8(bytes) {
  try {
    return decoder.decode(viewBytes(bytes));
  } catch {
    throw new SealError("malformed-input", "not UTF-8");
  }
}

function encodeBase64(bytes, alphabet, padded) {
  const data = viewBytes(bytes);
  let out = "";
  let i = 0;
  for (; i + 2 < data.length; i += 3) {
    const n = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
    out += alphabet[n >> 18] + alphabet[(n >> 12) & 63] + alphabet[(n >> 6) & 63] + alphabet[n & 63];
  }
  const rest = data.length - i;
  if (rest === 1) {
    const n = data[i] << 16;
    out += alphabet[n >> 18] + alphabet[(n >> 12) & 63] + (padded ? "==" : "");
  } else if (rest === 2) {
    const n = (data[i] << 16) | (data[i + 1] << 8);
    out += alphabet[n >> 18] + alphabet[(n >> 12) & 63] + alphabet[(n >> 6) & 63] + (padded ? "=" : "");
  }
  return out;
}

function decodeBase64(text) {
  const length = text.length;
  const out = new Uint8Array(Math.floor((length * 3) / 4));
  let bits = 0;
  let value = 0;
  let o = 0;
  for (let i = 0; i < length; i++) {
    value = ((value << 6) | DECODE[text.charCodeAt(i)]) & 0xffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (value >> bits) & 0xff;
    }
  }
  // Canonical form: the unused low bits of the last character are zero.
  if (bits > 0 && (value & ((1 << bits) - 1)) !== 0) return null;
  return out.subarray(0, o);
}

const URL_ALPHABET = ALPHABET.slice(0, 62) + "-_";

/** base64url without padding. */
export function b64uEncode(bytes) {
  return encodeBase64(bytes, URL_ALPHABET, false);
}

/** Decode base64url without padding, strictly; raises "malformed-input". */
export function b64uDecode(text) {
  check(typeof text === "string" && text.length % 4 !== 1 && B64U.test(text), "not base64url without padding");
  const out = decodeBase64(text);
  check(out !== null, "not canonical base64url");
  return out.slice();
}

/** Standard base64 with padding. */
export function b64Encode(bytes) {
  return encodeBase64(bytes, ALPHABET, true);
}

/** Decode standard padded base64, strictly (canonical form only). */
export function b64Decode(text) {
  check(typeof text === "string" && B64STD.test(text), "not standard base64");
  const out = decodeBase64(text.replace(/=+$/, ""));
  check(out !== null, "not canonical base64");
  return out.slice();
}

const HEX_DIGITS = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** Lowercase hexadecimal. */
export function hexEncode(bytes) {
  const data = viewBytes(bytes);
  let out = "";
  for (let i = 0; i < data.length; i++) out += HEX_DIGITS[data[i]];
  return out;
}

/** Decode lowercase hexadecimal, optionally of an exact byte length. */
export function hexDecode(text, length) {
  check(typeof text === "string" && HEX.test(text), "not lowercase hexadecimal");
  check(length === undefined || text.length === 2 * length, `expected ${length} bytes of hexadecimal`);
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(2 * i, 2), 16);
  return out;
}

/** H(data): the SHA-256 digest through WebCrypto, as a Uint8Array. */
export async function sha256(data) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", viewBytes(data)));
}

/** Uniformly random bytes from the CSPRNG. */
export function randomBytes(length) {
  const out = new Uint8Array(length);
  crypto.getRandomValues(out);
  return out;
}

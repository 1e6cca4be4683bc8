/**
 * Receipt codes (docs/protocol.md §7): 20 decimal digits from the CSPRNG, shown as
 * `1234-5678-9012-3456-7890` and never sent to the server. Codes are drawn by
 * rejection sampling over 9 random bytes, so every code is equally likely
 * (the same method as `testimony.crypto.receipt.new_code`).
 */
import { SealError } from "./errors.js";

export const DIGITS = 20;
const LIMIT = 10n ** 20n;
const SAMPLE_BYTES = 9;
const SAMPLE_CEILING = (256n ** 9n / LIMIT) * LIMIT;
// Grouped by 4 with hyphens or single spaces, or 20 digits in a row; ASCII digits only.
const ACCEPTED = /^(?:[0-9]{4}(?:-[0-9]{4}){4}|[0-9]{4}(?: [0-9]{4}){4}|[0-9]{20})$/;
// What String.prototype.trim removes is not what Python's str.strip removes;
// this is Python's set of white space (str.isspace) for the surrounding space.
const PY_SPACE = "[\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";
const SURROUNDING = new RegExp(`^${PY_SPACE}+|${PY_SPACE}+$`, "g");

/** The 20 digits grouped for display: `1234-5678-9012-3456-7890`. */
export function groupReceiptCode(digits) {
  return digits.match(/.{4}/g).join("-");
}

/**
 * A fresh receipt code: `{digits, grouped}`. `randomBytes(n)` may be injected
 * in tests; it defaults to crypto.getRandomValues.
 */
export function newReceiptCode(randomBytes = defaultRandomBytes) {
  for (;;) {
    const sample = randomBytes(SAMPLE_BYTES);
    let value = 0n;
    for (const byte of sample) value = (value << 8n) | BigInt(byte);
    if (value < SAMPLE_CEILING) {
      const digits = (value % LIMIT).toString().padStart(DIGITS, "0");
      return { digits, grouped: groupReceiptCode(digits) };
    }
  }
}

function defaultRandomBytes(n) {
  const out = new Uint8Array(n);
  crypto.getRandomValues(out);
  return out;
}

/**
 * The 20 digits of a code as a witness may type it: grouped by 4 with hyphens
 * or single spaces, or in a row, with surrounding white space. Raises
 * SealError("bad-receipt-code") for anything else; the error never repeats
 * the input.
 */
export function normaliseReceiptCode(text) {
  if (typeof text !== "string") throw new SealError("bad-receipt-code", "not a receipt code");
  const trimmed = text.replace(SURROUNDING, "");
  if (!ACCEPTED.test(trimmed)) throw new SealError("bad-receipt-code", "not a receipt code");
  return trimmed.replace(/[- ]/g, "");
}

/**
 * Canonical JSON (docs/protocol.md §0): RFC 8785, the JSON Canonicalization Scheme,
 * through `canonicalize` (by the RFC's author). Object keys are sorted by
 * UTF-16 code units, numbers are written as ECMAScript writes them, strings
 * are escaped as JSON.stringify escapes them; NaN, infinities and lone
 * surrogates are refused. Python's `testimony.crypto.canonical.dumps`
 * produces the same bytes (the browser tests check it on tricky inputs).
 */
import canonicalize from "canonicalize";
import { SealError } from "./errors.js";
import { utf8 } from "./bytes.js";

/** The JCS text of a JSON value. Raises "malformed-input" for values JCS refuses. */
export function canonicalJson(value) {
  let text;
  try {
    text = canonicalize(value);
  } catch {
    throw new SealError("malformed-input", "not canonical JSON");
  }
  if (typeof text !== "string") throw new SealError("malformed-input", "not a JSON value");
  return text;
}

/** The UTF-8 bytes of `canonicalJson(value)`. */
export function jcs(value) {
  return utf8(canonicalJson(value));
}

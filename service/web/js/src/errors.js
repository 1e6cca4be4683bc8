/**
 * The one error class of the sealing module. `code` is stable and is the same
 * string as the `code` of the matching class in `testimony.crypto.errors`
 * (for example "stream-bad-tag", "hpke-open-failed", "bad-receipt"), so the
 * page can translate it. Messages never carry plaintext, keys or codes.
 */
export class SealError extends Error {
  /**
   * @param {string} code stable error code
   * @param {string} message short description, free of secrets
   */
  constructor(code, message) {
    super(message);
    this.name = "SealError";
    this.code = code;
  }
}

/** Throw `SealError("malformed-input", message)` unless `condition` holds. */
export function check(condition, message) {
  if (!condition) throw new SealError("malformed-input", message);
}

/**
 * `M.consent.text_sha256` (docs/protocol.md §3, v1.1): `hex(H(JCS(consent
 * document)))`, which pins the consent wording the witness was shown — the
 * document `forms/consent.json` (written in the form format) that the page's
 * consent controls are rendered from. The same value as Python's
 * `testimony.forms.consent.consent_text_sha256()`.
 *
 * A page adds it only when it has the document (`withConsentText`); the
 * consent validator (`forms/static/validate.js`) runs on the witness's
 * choices before it is added.
 */
import { hexEncode, sha256 } from "./bytes.js";
import { check } from "./errors.js";
import { jcs } from "./jcs.js";

/** `hex(H(JCS(document)))` of a consent document (a JSON object). Raises "malformed-input". */
export async function consentTextSha256(document) {
  check(document !== null && typeof document === "object" && !Array.isArray(document),
    "a consent document is a JSON object");
  return hexEncode(await sha256(jcs(document)));
}

/**
 * `consent` (`{share_with, contact}`) with the `text_sha256` of `document`,
 * or `consent` unchanged when the page has no document (`undefined` or
 * `null`): the hash names wording the witness was shown, never a guess.
 */
export async function withConsentText(consent, document) {
  if (document === undefined || document === null) return consent;
  return { ...consent, text_sha256: await consentTextSha256(document) };
}

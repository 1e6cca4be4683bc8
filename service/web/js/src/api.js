/**
 * The few requests the witness pages make to their own server (same origin,
 * no credentials, nothing cached). A refusal is a `SealError` whose code is
 * the problem document's `code` (or `http-<status>`).
 */
import { SealError } from "./errors.js";
import { solvePow } from "./receipt.js";

export const FETCH_OPTIONS = { credentials: "omit", cache: "no-store" };

/** The JSON of `response` if its status is `expected` (else any 2xx); else a SealError. */
export async function answerOf(response, what, expected) {
  if (expected === undefined ? !response.ok : response.status !== expected) {
    let code = `http-${response.status}`;
    try {
      code = (await response.json()).code ?? code;
    } catch {
      // not a problem document
    }
    throw new SealError(code, `${what}: the server answered ${response.status}`);
  }
  return response.json();
}

/** POST `body` as JSON to `path`; resolves to the JSON of the answer. */
export async function postJson(path, body, what, expected) {
  const response = await fetch(path, {
    ...FETCH_OPTIONS,
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  return answerOf(response, what, expected);
}

/** POST `body` as JSON to `path`; resolves to the `201` answer's JSON (a receipt). */
export function postForReceipt(path, body) {
  return postJson(path, body, path, 201);
}

export const POW_ENDPOINT = "/api/v1/pow";

/**
 * A solved §8 proof of work for the next request, `{challenge, nonce}`, or
 * null when the server asks for none (`bits` 0). Solved in the Worker. With
 * `length`, the work that creating an upload of that many bytes costs (§6:
 * `GET /api/v1/pow?length=`); `url` is the challenge endpoint.
 */
export async function proofOfWork({ length, url = POW_ENDPOINT } = {}) {
  const target = length === undefined ? url : `${url}?length=${encodeURIComponent(String(length))}`;
  const offer = await answerOf(await fetch(target, FETCH_OPTIONS), "the proof-of-work challenge");
  if (offer.bits === 0) return null;
  return { challenge: offer.challenge, nonce: await solvePow(offer.challenge, offer.bits) };
}

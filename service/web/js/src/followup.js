/**
 * The witness coming back with a receipt code (docs/protocol.md §7,
 * docs/followups.md), in the browser: the same steps as
 * `testimony.service.courier.followup`.
 *
 * - `fetchWitnessView(keys)`: `GET /api/v1/replies/challenge`, sign
 *   `JCS({challenge, witness})` with the witness key, `POST /api/v1/replies`;
 *   resolves to the witness's submission ids and the replies, each opened with
 *   the witness's S1 seed.
 * - `sealFollowup(...)`: the text and files sealed to the intake key as in §3,
 *   with `parent`; `signFollowup` adds the witness's signature (v1.1) over
 *   `JCS({"type": "followup", "v": 1, "parent", "intake_key", "header": hex
 *   H(header), "body": hex H(body), "attachments": sorted})`, the `followup`
 *   entry's own members (`followupSignedBytes`), so it is checked from the
 *   log entry alone. The proof of work is not signed: add it before or after.
 *
 * The receipt code and the keys derived from it never leave the page.
 */
import { FETCH_OPTIONS, answerOf, postJson } from "./api.js";
import { b64uDecode, b64uEncode, fromUtf8 } from "./bytes.js";
import { check } from "./errors.js";
import { ed25519 } from "./ed25519.js";
import { jcs } from "./jcs.js";
import { INFO_REPLY, open } from "./s1.js";
import { followupSignedBytes, sealSubmission } from "./submission.js";

/** `{witness, challenge, signature}` for `POST /api/v1/replies`. */
export async function repliesRequest(keys, challenge) {
  check(typeof challenge === "string", "a challenge is a b64u string");
  const signed = { challenge, witness: keys.witnessB64u };
  const signature = await (await ed25519()).sign(keys.signingSeed, jcs(signed));
  return { ...signed, signature: b64uEncode(signature) };
}

/** A reply's message object, opened with the witness's S1 seed. Raises "malformed-input". */
export async function openReply(boxSeed, sealed) {
  const message = JSON.parse(fromUtf8(await open(boxSeed, INFO_REPLY, b64uDecode(sealed))));
  check(message !== null && typeof message === "object" && typeof message.text === "string",
    "a reply is a JSON object with a text");
  return message;
}

/**
 * The witness's submissions (ids, in log order) and the replies to them,
 * opened: resolves to `{submissions, replies: [{id, parent, text}]}`.
 * Rejects with a SealError whose code is the server's problem code, or the
 * fetch error when the server cannot be reached.
 */
export async function fetchWitnessView(keys) {
  const offer = await answerOf(await fetch("/api/v1/replies/challenge", FETCH_OPTIONS), "the replies challenge");
  const answer = await postJson("/api/v1/replies", await repliesRequest(keys, offer.challenge), "the replies");
  const replies = [];
  for (const reply of answer.replies) {
    const message = await openReply(keys.boxSeed, reply.sealed);
    replies.push({ id: reply.id, parent: reply.parent, text: message.text });
  }
  return { submissions: answer.submissions ?? [], replies };
}

/**
 * Seal a follow-up to submission `parent`: `{"v": 1, "text", "attachments"}`
 * sealed to `intakePublicKey` with `files` (`[{file, name, type}]`). Resolves
 * to `{attachments, bodyBlob, request: unsigned}`: upload the ciphertexts,
 * call `signFollowup`, and add `pow` (a retry with a fresh one keeps the
 * signature).
 */
export async function sealFollowup({ intakePublicKey, parent, text, files = [], onProgress, signal }) {
  check(typeof parent === "string" && /^[0-9a-f]{64}$/.test(parent), "`parent` is a submission id");
  check(typeof text === "string", "a follow-up's text is a string");
  const sealed = await sealSubmission({
    intakePublicKey,
    manifest: { v: 1, text },
    files,
    onProgress,
    signal,
  });
  const { witness: _witness, witness_box: _box, ...request } = sealed.request;
  return { attachments: sealed.attachments, bodyBlob: sealed.bodyBlob, request: { ...request, parent } };
}

/**
 * `request` and its `signature` by the witness key over `followupSignedBytes`
 * (v1.1): its `pow`, if it has one, is not signed.
 */
export async function signFollowup(keys, request) {
  check(!("signature" in request), "the request is signed once");
  const signature = await (await ed25519()).sign(keys.signingSeed, await followupSignedBytes(request));
  return { ...request, signature: b64uEncode(signature) };
}

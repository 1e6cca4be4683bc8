/**
 * A submission, sealed in the browser (docs/protocol.md §3, and the §9 entry the
 * server will build from it):
 *
 *     attachment i:  K_i fresh;  C_i = STREAM(K_i, pad(file));  blob_i = hex(H(C_i))
 *     manifest M:    {"v": 1, "form", "lang", "answers", "attachments": [...], "consent"}
 *     CEK fresh;     body   = STREAM(CEK, pad(JCS(M)))
 *                    header = Seal_S1(intake public key, "testimony/v1 cek", CEK)
 *
 * Attachments are sealed in Workers; the manifest, body and header on the
 * page (they are small). The opening side (`openSubmission`,
 * `openAttachment`) is here for replies, tests and tools.
 */
import { SealError, check } from "./errors.js";
import {
  b64uDecode,
  b64uEncode,
  equalBytes,
  fromUtf8,
  hexDecode,
  hexEncode,
  randomBytes,
  sha256,
  viewBytes,
} from "./bytes.js";
import { jcs } from "./jcs.js";
import { pad, unpadAttachment, unpadBody } from "./padding.js";
import { INFO_CEK, PUBLIC_KEY_LENGTH, keyId, open, seal } from "./s1.js";
import { streamDecrypt, streamEncrypt } from "./stream.js";
import { SealedFile } from "./sealed-file.js";
import { runInWorker } from "./worker-client.js";

export const KEY_LENGTH = 32;
export const HEADER_LENGTH = 1168;
/** A body larger than this is uploaded as a blob and named by `body_blob` (§3 step 6). */
export const INLINE_BODY_LIMIT = 1 << 20;
const TIME = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$/;

function publicKeyBytes(key) {
  const raw = typeof key === "string" ? b64uDecode(key) : viewBytes(key);
  check(raw.length === PUBLIC_KEY_LENGTH, "an S1 public key is 1216 bytes");
  return raw;
}

/**
 * Seal one attachment (§3 step 1) in Workers: one encrypts and hashes the
 * ciphertext, a second hashes the file bytes at the same time. Resolves to
 * `{key, blob, ciphertext, descriptor}`: `ciphertext` is a `SealedFile` that
 * makes the ciphertext again, range by range, for the upload (or whole, with
 * `toBlob()`), and `descriptor` is the manifest entry `{blob, key, name,
 * type, size, sha256}`. `name` and `type` default to the File's.
 * `onProgress(bytesDone)` follows the encryption. Rejects with an
 * "AbortError" when `signal` aborts. The file must not change until it is
 * uploaded.
 */
export async function sealAttachment(file, { name, type, key, workerUrl, onProgress, signal } = {}) {
  check(typeof Blob !== "undefined" && file instanceof Blob, "an attachment is a Blob or File");
  const fileName = name ?? file.name;
  check(typeof fileName === "string" && fileName !== "", "an attachment has a name");
  const mediaType = type ?? (file.type || "application/octet-stream");
  const fileKey = key === undefined ? randomBytes(KEY_LENGTH) : viewBytes(key).slice();
  check(fileKey.length === KEY_LENGTH, "an attachment key is 32 bytes");
  // If either Worker fails, the other is stopped.
  const both = new AbortController();
  const onAbort = () => both.abort(signal.reason);
  signal?.addEventListener("abort", onAbort);
  const options = { workerUrl, signal: both.signal };
  try {
    const [sealed, plaintextHash] = await Promise.all([
      runInWorker("sealFile", { file, key: fileKey }, { ...options, onProgress }),
      runInWorker("hashFile", { file }, options),
    ]).catch((error) => {
      both.abort(error);
      throw error;
    });
    const descriptor = {
      blob: sealed.blob,
      key: b64uEncode(fileKey),
      name: fileName,
      type: mediaType,
      size: sealed.size,
      sha256: plaintextHash,
    };
    const ciphertext = new SealedFile(file, fileKey, sealed.sealedSize, sealed.blob, { workerUrl });
    return { key: fileKey, blob: sealed.blob, ciphertext, descriptor };
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

/**
 * Seal a submission (§3 steps 1 to 4 and the request of step 6).
 *
 * - `intakePublicKey`: the 1216-byte S1 key (bytes or b64u), pinned by the page;
 * - `manifest`: the manifest without `attachments` (they are filled in, in
 *   the order of `files`);
 * - `files`: `[{file: Blob | File, name?, type?, field?}]`; with `field`, the
 *   new blob id is also appended to `manifest.answers[field]` (an
 *   `attachments` answer, §5);
 * - `witness`: the result of `deriveWitnessKeys`, or null;
 * - `pow`: `{challenge, nonce}` to put in the request, or undefined.
 *
 * Resolves to `{cek, header, body, manifest, manifestJcs, attachments:
 * [{blob, ciphertext (a SealedFile), descriptor}], bodyBlob, request}`. `request` is the
 * JSON of §3 step 6; when the body is over 1 MiB it names `body_blob` and
 * `bodyBlob` is `{blob, ciphertext}` to upload first, else `bodyBlob` is null.
 * Every ciphertext in `attachments` must be uploaded (§6) before the request.
 */
export async function sealSubmission({ intakePublicKey, manifest, files = [], witness = null, pow, workerUrl, onProgress, signal }) {
  const intakeKey = publicKeyBytes(intakePublicKey);
  check(manifest !== null && typeof manifest === "object" && !Array.isArray(manifest), "the manifest is a JSON object");
  check(manifest.attachments === undefined || (Array.isArray(manifest.attachments) && manifest.attachments.length === 0),
    "the manifest's attachments are filled in from `files`");
  const sealedManifest = structuredClone(manifest);
  sealedManifest.attachments = [];
  const total = files.reduce((sum, entry) => sum + entry.file.size, 0);
  let done = 0;
  const attachments = [];
  for (const entry of files) {
    const sealed = await sealAttachment(entry.file, {
      name: entry.name,
      type: entry.type,
      workerUrl,
      signal,
      onProgress: onProgress ? (bytes) => onProgress({ done: done + bytes, total }) : undefined,
    });
    done += entry.file.size;
    attachments.push({ blob: sealed.blob, ciphertext: sealed.ciphertext, descriptor: sealed.descriptor });
    sealedManifest.attachments.push(sealed.descriptor);
    if (entry.field !== undefined) {
      sealedManifest.answers ??= {};
      const answer = (sealedManifest.answers[entry.field] ??= []);
      check(Array.isArray(answer), "an attachments answer is a list of blob ids");
      answer.push(sealed.blob);
    }
  }
  const manifestJcs = jcs(sealedManifest);
  const cek = randomBytes(KEY_LENGTH);
  const body = await streamEncrypt(cek, pad(manifestJcs));
  const header = await seal(intakeKey, INFO_CEK, cek);
  const request = {
    intake_key: await keyId(intakeKey),
    header: b64uEncode(header),
  };
  let bodyBlob = null;
  if (body.length > INLINE_BODY_LIMIT) {
    const blob = hexEncode(await sha256(body));
    bodyBlob = { blob, ciphertext: new Blob([body], { type: "application/octet-stream" }) };
    request.body_blob = blob;
  } else {
    request.body = b64uEncode(body);
  }
  request.attachments = attachments.map((a) => a.blob);
  request.witness = witness ? b64uEncode(witness.witness) : null;
  request.witness_box = witness ? b64uEncode(witness.witnessBox) : null;
  if (pow !== undefined) request.pow = { challenge: pow.challenge, nonce: pow.nonce };
  return { cek, header, body, manifest: sealedManifest, manifestJcs, attachments, bodyBlob, request };
}

/**
 * The manifest of a body, decrypted with its CEK. Raises a stream error if
 * the body does not decrypt and "malformed-input" if it is not a JSON object.
 */
export async function openBody(cek, body) {
  const plaintext = unpadBody(await streamDecrypt(cek, body));
  let manifest;
  try {
    manifest = JSON.parse(fromUtf8(plaintext));
  } catch {
    throw new SealError("malformed-input", "the manifest is not JSON");
  }
  check(manifest !== null && typeof manifest === "object" && !Array.isArray(manifest), "the manifest is a JSON object");
  return { manifest, manifestJcs: plaintext.slice() };
}

/**
 * Open a header with the intake private seed, then the body (§3). Resolves to
 * `{cek, manifest, manifestJcs}` (`manifestJcs`: the body's bytes without
 * padding). Raises "hpke-open-failed", a stream error or "malformed-input".
 */
export async function openSubmission(intakeSeed, header, body) {
  const cek = await open(intakeSeed, INFO_CEK, header);
  check(cek.length === KEY_LENGTH, "the header does not carry a 32-byte key");
  return { cek, ...(await openBody(cek, body)) };
}

/**
 * Decrypt an attachment with the key its manifest entry names, cut it to its
 * `size`, and check its `sha256`. Raises "malformed-input" for a malformed
 * entry or a file whose hash differs, "bad-padding", or a stream error.
 */
export async function openAttachment(descriptor, ciphertext) {
  check(descriptor !== null && typeof descriptor === "object", "an attachment entry is an object");
  const key = b64uDecode(descriptor.key);
  check(key.length === KEY_LENGTH, "an attachment key is 32 bytes");
  const expected = hexDecode(descriptor.sha256, 32);
  const data = unpadAttachment(await streamDecrypt(key, ciphertext), descriptor.size).slice();
  check(equalBytes(await sha256(data), expected), "the attachment does not match its manifest hash");
  return data;
}

function fieldBytes(request, name) {
  check(typeof request[name] === "string", `\`${name}\` is a b64u string`);
  return b64uDecode(request[name]);
}

function blobId(value, what) {
  check(typeof value === "string", `${what} is a lowercase hex SHA-256`);
  hexDecode(value, 32);
  return value;
}

/**
 * The JCS bytes of the §9 submission entry the server builds for a §3 step 6
 * request received at `received` (an RFC 3339 string, already floored),
 * exactly as `testimony.crypto.submission.submission_entry` builds it.
 * Checks structure only; raises "malformed-input".
 */
export async function submissionEntry(request, received) {
  check(request !== null && typeof request === "object" && !Array.isArray(request), "the request is a JSON object");
  check(typeof received === "string" && TIME.test(received), "`received` is an RFC 3339 UTC time");
  const intakeKey = request.intake_key;
  check(typeof intakeKey === "string" && intakeKey.length === 32, "`intake_key` is a 32-character key id");
  hexDecode(intakeKey);
  const header = fieldBytes(request, "header");
  check(header.length === HEADER_LENGTH, `\`header\` is ${HEADER_LENGTH} bytes`);
  const hasBody = "body" in request;
  check(hasBody !== "body_blob" in request, "a request has exactly one of `body` and `body_blob`");
  const bodyHash = hasBody ? hexEncode(await sha256(fieldBytes(request, "body"))) : blobId(request.body_blob, "`body_blob`");
  const attachments = "attachments" in request ? request.attachments : [];
  check(Array.isArray(attachments), "`attachments` is a list of blob ids");
  // Sorted as Python sorts str: by code point; blob ids are ASCII hex.
  const blobs = attachments.map((b) => blobId(b, "an attachment")).sort();
  check(new Set(blobs).size === blobs.length, "an attachment is named twice");
  const witness = request.witness ?? null;
  const witnessBox = request.witness_box ?? null;
  check((witness === null) === (witnessBox === null), "`witness` and `witness_box` come together");
  let witnessBoxHash = null;
  if (witness !== null) {
    check(fieldBytes(request, "witness").length === 32, "`witness` is a 32-byte Ed25519 public key");
    const box = fieldBytes(request, "witness_box");
    check(box.length === PUBLIC_KEY_LENGTH, "`witness_box` is a 1216-byte S1 public key");
    witnessBoxHash = hexEncode(await sha256(box));
  }
  return jcs({
    type: "submission",
    v: 1,
    intake_key: intakeKey,
    header: hexEncode(await sha256(header)),
    body: bodyHash,
    attachments: blobs,
    witness,
    witness_box: witnessBoxHash,
    received,
  });
}

const FOLLOWUP_MEMBERS = new Set(["intake_key", "header", "body", "body_blob", "attachments", "parent", "pow", "signature"]);
const SEALED_MEMBERS = ["intake_key", "header", "body", "body_blob", "attachments"];

/**
 * The bytes a follow-up's signature is over (docs/protocol.md §7, v1.1):
 * `JCS({"type": "followup", "v": 1, "parent", "intake_key", "header": hex
 * H(header), "body": hex H(body), "attachments": sorted})`, from `members`,
 * which are those of a `followup` entry (hex hashes; `body` is the
 * `body_blob` id when the body was uploaded). Only those members are read, so
 * a logged entry gives the bytes as well as the request it was built from
 * (`followupSignedBytes`). Exactly `testimony.crypto.followup.entry_signed_bytes`.
 */
export function followupEntrySignedBytes({ parent, intake_key: intakeKey, header, body, attachments }) {
  check(typeof parent === "string" && /^[0-9a-f]{64}$/.test(parent), "`parent` is a submission id");
  check(typeof intakeKey === "string" && /^[0-9a-f]{32}$/.test(intakeKey), "`intake_key` is a key id");
  check(typeof header === "string" && /^[0-9a-f]{64}$/.test(header), "`header` is a hex SHA-256");
  check(typeof body === "string" && /^[0-9a-f]{64}$/.test(body), "`body` is a hex SHA-256");
  check(Array.isArray(attachments), "`attachments` is a list of blob ids");
  const blobs = attachments.map((b) => blobId(b, "an attachment")).sort();
  return jcs({ type: "followup", v: 1, parent, intake_key: intakeKey, header, body, attachments: blobs });
}

async function followupMembers(request) {
  check(request !== null && typeof request === "object" && !Array.isArray(request), "the request is a JSON object");
  const sealed = {};
  for (const name of SEALED_MEMBERS) if (name in request) sealed[name] = request[name];
  const base = JSON.parse(fromUtf8(await submissionEntry(sealed, "2000-01-01T00:00:00Z")));
  check(typeof request.parent === "string" && /^[0-9a-f]{64}$/.test(request.parent), "`parent` is a submission id");
  return {
    parent: request.parent,
    intake_key: base.intake_key,
    header: base.header,
    body: base.body,
    attachments: base.attachments,
  };
}

/**
 * The bytes a follow-up request's signature is over (§7, v1.1; see
 * `followupEntrySignedBytes`): `pow`, `signature` and any other member are
 * not signed. Exactly `testimony.crypto.followup.signed_bytes`. Raises
 * "malformed-input".
 */
export async function followupSignedBytes(request) {
  return followupEntrySignedBytes(await followupMembers(request));
}

/**
 * The JCS bytes of the `followup` entry (docs/log-entries.md) for a follow-up
 * request (§7) received at `received`, with `witness` (b64u) the parent
 * submission's witness key, exactly as
 * `testimony.crypto.followup.followup_entry` builds it. Checks structure
 * only (not the signature); raises "malformed-input".
 */
export async function followupEntry(request, witness, received) {
  check(request !== null && typeof request === "object" && !Array.isArray(request), "the request is a JSON object");
  for (const name of Object.keys(request)) check(FOLLOWUP_MEMBERS.has(name), `a follow-up has no member \`${name}\``);
  const base = await followupMembers(request);
  check(fieldBytes(request, "signature").length === 64, "`signature` is a b64u 64-byte Ed25519 signature");
  check(typeof witness === "string" && b64uDecode(witness).length === 32, "the witness key is 32 bytes");
  check(typeof received === "string" && TIME.test(received), "`received` is an RFC 3339 UTC time");
  return jcs({
    type: "followup",
    v: 1,
    parent: base.parent,
    intake_key: base.intake_key,
    header: base.header,
    body: base.body,
    attachments: base.attachments,
    witness,
    signature: request.signature,
    received,
  });
}

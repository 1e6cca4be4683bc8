/**
 * Testimony's browser sealing module (docs/protocol.md §1–§4, §7, §8, §10).
 *
 * Everything the witness's device does before anything leaves it: Padmé
 * padding, STREAM over WebCrypto AES-GCM, S1 HPKE, JCS, receipt codes and
 * witness keys, proof of work, sealing a whole submission, and checking the
 * receipt the server answers with. Bulk work (attachments, Argon2id, proof of
 * work) runs in `seal-worker.js`, which must sit beside this file; the page's
 * CSP needs `script-src 'self' 'wasm-unsafe-eval'` and `worker-src 'self'`,
 * and the Worker script must be served with the same CSP.
 *
 * Errors are `SealError`s with a stable `code` (the same codes as
 * `testimony.crypto.errors`).
 */
export { SealError } from "./errors.js";
export { b64Decode, b64Encode, b64uDecode, b64uEncode, hexDecode, hexEncode, sha256, utf8 } from "./bytes.js";
export { pad, padme, unpadAttachment, unpadBody } from "./padding.js";
export { CHUNK, CIPHERTEXT_CHUNK, TAG, ciphertextLength, nonce, streamDecrypt, streamEncrypt } from "./stream.js";
export { INFO_CEK, INFO_REPLY, PUBLIC_KEY_LENGTH, keyId, open, publicKeyFromSeed, seal } from "./s1.js";
export { canonicalJson, jcs } from "./jcs.js";
export { groupReceiptCode, newReceiptCode, normaliseReceiptCode } from "./receipt-code.js";
export { ed25519, nobleEd25519, webcryptoEd25519 } from "./ed25519.js";
export { leafHash, nodeHash, verifyInclusion } from "./merkle.js";
export { parseVerifierKey, verifyCheckpoint } from "./checkpoint.js";
export { fetchWitnessView, openReply, repliesRequest, sealFollowup, signFollowup } from "./followup.js";
export { consentTextSha256, withConsentText } from "./consent.js";
export {
  INLINE_BODY_LIMIT,
  followupEntry,
  followupEntrySignedBytes,
  followupSignedBytes,
  openAttachment,
  openBody,
  openSubmission,
  sealAttachment,
  sealSubmission,
  submissionEntry,
} from "./submission.js";
export { deriveWitnessKeys, solvePow, verifyReceipt } from "./receipt.js";
export { SealedFile } from "./sealed-file.js";
export { crc32, storedZip } from "./zip-store.js";
export { UPLOAD_ENDPOINT, uploadBlob } from "./upload.js";
export { defaultWorkerUrl, runInWorker } from "./worker-client.js";

/**
 * Resumable upload of a blob's ciphertext (docs/protocol.md §6): tus 1.0 under
 * `/api/v1/uploads/`, through `tus-js-client`. Each creation carries
 * `Upload-Metadata: sha256 <base64 of hex>,pow <base64 of "<challenge>:<nonce>">`:
 * the proof of work the server asks for an upload of that length
 * (`GET /api/v1/pow?length=`, solved in the Worker; no `pow` member when it
 * asks for none). A creation refused for its proof (expired, reused, or
 * priced higher meanwhile) is sent again with a fresh one, as is the creation
 * tus-js-client makes when a resumed upload has gone. Nothing is written to
 * the device's storage (no fingerprints in localStorage): an interrupted
 * upload resumes from the last acknowledged byte while the page is open, as
 * tus-js-client retries.
 */
import { Upload } from "tus-js-client";
import { proofOfWork as solvedProof } from "./api.js";
import { check } from "./errors.js";
import { SealedFile } from "./sealed-file.js";

// tus-js-client reads a SealedFile through this: each slice is encrypted again.
const sealedFileReader = {
  async openFile(sealed) {
    return {
      size: sealed.size,
      async slice(start, end) {
        const stop = Math.min(end, sealed.size);
        return { value: new Blob([await sealed.slice(start, stop)]), done: stop >= sealed.size };
      },
      close() {},
    };
  },
};

/** Problem codes after which a creation is sent again with a fresh proof of work. */
const FRESH_PROOF = new Set(["pow-expired", "pow-reused", "pow-insufficient"]);

function problemCode(response) {
  try {
    return JSON.parse(response.getBody()).code;
  } catch {
    return undefined;
  }
}

/** What asking for a proof of work may answer that no retry mends. */
const FINAL = new Set(["upload-quota-exceeded", "blob-too-large"]);

/**
 * tus-js-client's rule (network errors, 5xx, 409, 423), and a creation refused
 * for its proof; not a creation the server has no room for.
 */
function shouldRetry(error) {
  if (FINAL.has(error.causingError?.code)) return false;
  const response = error.originalResponse;
  const status = response ? response.getStatus() : 0;
  if (status === 403 && error.originalRequest?.getMethod() === "POST") {
    return FRESH_PROOF.has(problemCode(response));
  }
  const clientError = status >= 400 && status < 500 && status !== 409 && status !== 423;
  return !clientError && (typeof navigator === "undefined" || navigator.onLine !== false);
}

/** The `Upload-Metadata` of a creation: `sha256`, and `pow` when there is one. */
export function uploadMetadata(blob, proof) {
  const members = [`sha256 ${btoa(blob)}`];
  if (proof) members.push(`pow ${btoa(`${proof.challenge}:${proof.nonce}`)}`);
  return members.join(",");
}

export const UPLOAD_ENDPOINT = "/api/v1/uploads/";

/**
 * Upload `ciphertext` (a SealedFile or a Blob) whose blob id is `blob` (hex).
 * A SealedFile is encrypted again slice by slice as it is sent. Resolves to the
 * upload URL once the server has every byte. `onProgress(sent, total)`;
 * `signal` aborts (the server may then delete the partial upload).
 * `proofOfWork(length)` resolves to the creation's solved proof or null
 * (default: asked of the server beside `endpoint`, `../pow?length=`).
 */
export function uploadBlob(ciphertext, blob, {
  endpoint = UPLOAD_ENDPOINT,
  onProgress,
  signal,
  chunkSize = 8 * 1024 * 1024,
  retryDelays = [0, 1000, 3000, 5000, 10000, 20000],
  proofOfWork,
} = {}) {
  check(/^[0-9a-f]{64}$/.test(blob), "a blob id is a hex SHA-256");
  const powUrl = new URL("../pow", new URL(endpoint, globalThis.location?.href)).href;
  const prove = proofOfWork ?? ((length) => solvedProof({ length, url: powUrl }));
  return new Promise((resolve, reject) => {
    const sealed = ciphertext instanceof SealedFile;
    const upload = new Upload(ciphertext, {
      endpoint,
      ...(sealed ? { fileReader: sealedFileReader, fingerprint: async () => null } : {}),
      // The metadata is set on each creation (below), with its own proof of work.
      metadata: {},
      chunkSize,
      retryDelays,
      storeFingerprintForResuming: false,
      removeFingerprintOnSuccess: true,
      async onBeforeRequest(request) {
        if (request.getMethod() === "POST") {
          request.setHeader("Upload-Metadata", uploadMetadata(blob, await prove(ciphertext.size)));
        }
      },
      onShouldRetry: (error) => shouldRetry(error),
      onProgress: onProgress ? (sent, total) => onProgress(sent, total) : undefined,
      onSuccess: () => resolve(upload.url),
      onError: (error) => reject(error),
    });
    signal?.addEventListener("abort", () => {
      upload.abort(true).finally(() => reject(signal.reason ?? new DOMException("aborted", "AbortError")));
    });
    upload.start();
  });
}

/**
 * Upload every ciphertext a sealed submission or follow-up needs before its
 * request (`sealSubmission`'s `attachments` and `bodyBlob`), one after the
 * other, each creation paying its own proof of work. `onProgress(fraction)`
 * runs from 0 to 1 over all their bytes.
 */
export async function uploadSealed(sealed, { onProgress } = {}) {
  const uploads = sealed.attachments.map((a) => ({ blob: a.blob, ciphertext: a.ciphertext }));
  if (sealed.bodyBlob) uploads.push(sealed.bodyBlob);
  // The largest first: a finished blob waits, unreferenced, for the others
  // and the submission, and the server keeps such blobs for hours only.
  uploads.sort((a, b) => b.ciphertext.size - a.ciphertext.size);
  const total = uploads.reduce((sum, u) => sum + u.ciphertext.size, 0);
  const report = (sent) => onProgress?.(total ? sent / total : 1);
  let before = 0;
  for (const upload of uploads) {
    report(before);
    await uploadBlob(upload.ciphertext, upload.blob, { onProgress: (sent) => report(before + sent) });
    before += upload.ciphertext.size;
  }
}

/**
 * Resumable upload of a blob's ciphertext (PROTOCOL.md §6): tus 1.0 under
 * `/api/v1/uploads/`, with `Upload-Metadata: sha256 <base64 of hex>`, through
 * `tus-js-client`. Nothing is written to the device's storage (no
 * fingerprints in localStorage): an interrupted upload resumes from the last
 * acknowledged byte while the page is open, as tus-js-client retries.
 */
import { Upload } from "tus-js-client";
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

export const UPLOAD_ENDPOINT = "/api/v1/uploads/";

/**
 * Upload `ciphertext` (a SealedFile or a Blob) whose blob id is `blob` (hex).
 * A SealedFile is encrypted again slice by slice as it is sent. Resolves to the
 * upload URL once the server has every byte. `onProgress(sent, total)`;
 * `signal` aborts (the server may then delete the partial upload).
 */
export function uploadBlob(ciphertext, blob, {
  endpoint = UPLOAD_ENDPOINT,
  onProgress,
  signal,
  chunkSize = 8 * 1024 * 1024,
  retryDelays = [0, 1000, 3000, 5000, 10000, 20000],
} = {}) {
  check(/^[0-9a-f]{64}$/.test(blob), "a blob id is a hex SHA-256");
  return new Promise((resolve, reject) => {
    const sealed = ciphertext instanceof SealedFile;
    const upload = new Upload(ciphertext, {
      endpoint,
      ...(sealed ? { fileReader: sealedFileReader, fingerprint: async () => null } : {}),
      metadata: { sha256: blob },
      chunkSize,
      retryDelays,
      storeFingerprintForResuming: false,
      removeFingerprintOnSuccess: true,
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
 * other. `onProgress(fraction)` runs from 0 to 1 over all their bytes.
 */
export async function uploadSealed(sealed, { onProgress } = {}) {
  const uploads = sealed.attachments.map((a) => ({ blob: a.blob, ciphertext: a.ciphertext }));
  if (sealed.bodyBlob) uploads.push(sealed.bodyBlob);
  const total = uploads.reduce((sum, u) => sum + u.ciphertext.size, 0);
  const report = (sent) => onProgress?.(total ? sent / total : 1);
  let before = 0;
  for (const upload of uploads) {
    report(before);
    await uploadBlob(upload.ciphertext, upload.blob, { onProgress: (sent) => report(before + sent) });
    before += upload.ciphertext.size;
  }
}

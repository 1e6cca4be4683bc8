/**
 * The ciphertext of one sealed attachment, `STREAM(K, pad(file))` (docs/protocol.md
 * §3 step 1), made on demand from the file and its key: `slice(start, end)`
 * encrypts the chunks that cover the range again, in a Worker. Nothing of the
 * ciphertext is kept, so sealing a long video needs no memory for it; the
 * upload (§6) reads it slice by slice, and `toBlob()` makes it whole where a
 * caller needs the bytes (an offline envelope, tests).
 */
import { check } from "./errors.js";
import { runInWorker } from "./worker-client.js";

export const BLOB_PART = 8 << 20;

export class SealedFile {
  /**
   * @param {Blob} file the attachment's plaintext (a Blob or File)
   * @param {Uint8Array} key its 32-byte STREAM key
   * @param {number} size the length of the ciphertext
   * @param {string} blob hex H(ciphertext), as the first pass computed it
   */
  constructor(file, key, size, blob, { workerUrl } = {}) {
    this.size = size;
    this.blob = blob;
    this.type = "application/octet-stream";
    // Private: the file and key stay out of enumerable properties and JSON.
    Object.defineProperty(this, "_source", { value: { file, key, workerUrl }, enumerable: false });
  }

  /** Bytes [start, end) of the ciphertext, as a Uint8Array. */
  async slice(start, end = this.size) {
    check(Number.isSafeInteger(start) && Number.isSafeInteger(end) && 0 <= start && start <= end && end <= this.size,
      "a range inside the ciphertext");
    const { file, key, workerUrl } = this._source;
    return new Uint8Array(await runInWorker("encryptRange", { file, key, start, end }, { workerUrl }));
  }

  /** The whole ciphertext as a Blob, made in parts of 8 MiB. */
  async toBlob() {
    const parts = [];
    for (let offset = 0; offset < this.size; offset += BLOB_PART) {
      parts.push(new Blob([await this.slice(offset, Math.min(this.size, offset + BLOB_PART))]));
    }
    return new Blob(parts, { type: this.type });
  }

  toString() {
    return `SealedFile(${this.blob})`;
  }
}

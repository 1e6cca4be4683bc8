/**
 * Running one operation of `seal-worker.js` in a fresh module Worker, which
 * is ended when the operation settles (or when `signal` aborts it).
 */
import { SealError } from "./errors.js";

/** Where seal-worker.js is: beside this module unless the page says otherwise. */
export function defaultWorkerUrl() {
  return new URL("./seal-worker.js", import.meta.url);
}

/**
 * Run `op` with `args` in a new Worker (`workerUrl`: the module Worker's URL,
 * or `{classic: url}` for a classic Worker built as `offline-seal-worker.js`). Resolves to its result; rejects with
 * a SealError carrying the Worker's error code, or with an "AbortError"
 * DOMException when `signal` aborts. `onProgress` receives progress messages.
 */
export function runInWorker(op, args, { workerUrl, onProgress, signal, transfer = [] } = {}) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason ?? new DOMException("aborted", "AbortError"));
      return;
    }
    // `{classic: url}`: a classic Worker, for pages where a module Worker
    // cannot load (a page opened from file:// starts it from a Blob URL).
    const name = `seal-${op}`;
    const worker = workerUrl?.classic
      ? new Worker(workerUrl.classic, { name })
      : new Worker(workerUrl ?? defaultWorkerUrl(), { type: "module", name });
    const finish = () => {
      worker.terminate();
      signal?.removeEventListener("abort", onAbort);
    };
    const onAbort = () => {
      finish();
      reject(signal.reason ?? new DOMException("aborted", "AbortError"));
    };
    signal?.addEventListener("abort", onAbort);
    worker.onmessage = (event) => {
      const message = event.data;
      if ("progress" in message) {
        if (onProgress) onProgress(message.progress);
        return;
      }
      finish();
      if ("error" in message) reject(new SealError(message.error.code, message.error.message));
      else resolve(message.result);
    };
    worker.onerror = (event) => {
      event.preventDefault?.();
      finish();
      reject(new SealError("crypto-error", "the sealing worker failed to run"));
    };
    worker.onmessageerror = () => {
      finish();
      reject(new SealError("crypto-error", "the sealing worker sent an unreadable message"));
    };
    worker.postMessage({ id: 1, op, args }, transfer);
  });
}

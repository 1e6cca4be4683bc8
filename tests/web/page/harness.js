// Test harness: loads the built sealing module exactly as a page would (under
// the strict CSP the test server sends) and exposes it to page.evaluate.
import * as seal from "/static/seal.js";

window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});

window.seal = seal;
window.t = {
  dec: seal.b64uDecode,
  enc: seal.b64uEncode,
  blob: (b64u, type) => new Blob([seal.b64uDecode(b64u)], type ? { type } : {}),
  // A Blob's bytes, or a SealedFile's ciphertext (made whole), as b64u.
  async read(blobOrSealed) {
    const blob = blobOrSealed instanceof seal.SealedFile ? await blobOrSealed.toBlob() : blobOrSealed;
    return seal.b64uEncode(new Uint8Array(await blob.arrayBuffer()));
  },
  async error(promise) {
    try {
      await promise;
    } catch (error) {
      return error.code ?? String(error);
    }
    return null;
  },
};
window.harnessReady = true;

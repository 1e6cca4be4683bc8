/**
 * Ed25519 (RFC 8032, docs/protocol.md §1) for witness keys (§7) and checkpoint
 * signatures (§9, §10). WebCrypto's Ed25519 is used where the browser has it
 * (Chromium 137+, Firefox 129+, Safari 17+); elsewhere (older Tor Browser) the
 * audited `@noble/curves` implementation, verifying strictly (RFC 8032, not
 * ZIP 215). Both give the same keys and signatures (Ed25519 is deterministic).
 */
import { ed25519 as noble } from "@noble/curves/ed25519.js";
import { b64uDecode, concat, toBytes, viewBytes } from "./bytes.js";
import { check } from "./errors.js";

// PKCS #8 PrivateKeyInfo for an Ed25519 seed (RFC 8410): this prefix, then the 32 bytes.
const PKCS8_PREFIX = new Uint8Array([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);

function checkSeed(seed) {
  const raw = viewBytes(seed);
  check(raw.length === 32, "an Ed25519 seed is 32 bytes");
  return raw;
}

/** Ed25519 through WebCrypto. */
export const webcryptoEd25519 = {
  name: "webcrypto",
  async signingKey(seed) {
    return crypto.subtle.importKey("pkcs8", concat(PKCS8_PREFIX, checkSeed(seed)), { name: "Ed25519" }, true, [
      "sign",
    ]);
  },
  async publicKey(seed) {
    const jwk = await crypto.subtle.exportKey("jwk", await this.signingKey(seed));
    return b64uDecode(jwk.x);
  },
  async sign(seed, message) {
    const key = await this.signingKey(seed);
    return new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, key, toBytes(message)));
  },
  async verify(publicKey, message, signature) {
    let key;
    try {
      key = await crypto.subtle.importKey("raw", toBytes(publicKey), { name: "Ed25519" }, false, ["verify"]);
    } catch {
      return false;
    }
    return crypto.subtle.verify({ name: "Ed25519" }, key, toBytes(signature), toBytes(message));
  },
};

/** Ed25519 through @noble/curves (strict RFC 8032 verification). */
export const nobleEd25519 = {
  name: "noble",
  async publicKey(seed) {
    return noble.getPublicKey(toBytes(checkSeed(seed)));
  },
  async sign(seed, message) {
    return noble.sign(toBytes(message), toBytes(checkSeed(seed)));
  },
  async verify(publicKey, message, signature) {
    try {
      return noble.verify(toBytes(signature), toBytes(message), toBytes(publicKey), { zip215: false });
    } catch {
      return false;
    }
  },
};

let chosen = null;

/** The Ed25519 implementation this browser uses: WebCrypto if it works, else noble. */
export async function ed25519() {
  if (chosen === null) {
    try {
      await webcryptoEd25519.publicKey(new Uint8Array(32));
      chosen = webcryptoEd25519;
    } catch {
      chosen = nobleEd25519;
    }
  }
  return chosen;
}

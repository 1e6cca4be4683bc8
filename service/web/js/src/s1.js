/**
 * HPKE suite S1 (docs/protocol.md §1): RFC 9180 base mode with the hybrid KEM
 * MLKEM768-X25519 (X-Wing, KEM id 0x647a), HKDF-SHA256 and AES-256-GCM,
 * through `@hpke/core` and `@hpke/hybridkem-x-wing`.
 *
 * A private key is a 32-byte seed (SHAKE256(seed, 96) expands it; the
 * library does this when the seed is imported with `importKey("raw", …)`;
 * its `deriveKeyPair` would hash the seed first and must not be used). A
 * public key is 1216 bytes. `seal` returns `enc (1120 bytes) || ct` with an
 * empty AAD, as `cryptography`'s `Suite.encrypt` does.
 */
import { Aes256Gcm, CipherSuite, HkdfSha256 } from "@hpke/core";
import { XWing } from "@hpke/hybridkem-x-wing";
import { SealError, check } from "./errors.js";
import { concat, hexEncode, sha256, toBytes, utf8, viewBytes } from "./bytes.js";

export const SEED_LENGTH = 32;
export const PUBLIC_KEY_LENGTH = 1216;
export const ENC_LENGTH = 1120;
export const AEAD_TAG_LENGTH = 16;
/** `info` of the header that carries a submission's content key (§3 step 4). */
export const INFO_CEK = "testimony/v1 cek";
/** `info` of a reviewer's reply sealed to a witness (§7). */
export const INFO_REPLY = "testimony/v1 reply";

let suiteInstance = null;
function suite() {
  suiteInstance ??= new CipherSuite({ kem: new XWing(), kdf: new HkdfSha256(), aead: new Aes256Gcm() });
  return suiteInstance;
}

function infoBytes(info) {
  return typeof info === "string" ? utf8(info) : toBytes(info);
}

/**
 * The 1216-byte S1 public key of a 32-byte seed. Raises "malformed-input"
 * if the seed is not 32 bytes.
 */
export async function publicKeyFromSeed(seed) {
  const raw = viewBytes(seed);
  check(raw.length === SEED_LENGTH, "an S1 private key is a 32-byte seed");
  // generateKeyPairDerand reads `sk.buffer`: give it a fresh exact-size array.
  const kem = suite().kem;
  const pair = await kem.generateKeyPairDerand(toBytes(raw));
  return new Uint8Array(await kem.serializePublicKey(pair.publicKey));
}

/** The key id of an S1 public key: hex(H(public key))[:32]. */
export async function keyId(publicKey) {
  const raw = viewBytes(publicKey);
  check(raw.length === PUBLIC_KEY_LENGTH, "an S1 public key is 1216 bytes");
  return hexEncode(await sha256(raw)).slice(0, 32);
}

/**
 * Seal_S1(publicKey, info, plaintext) = enc || ct, a new Uint8Array.
 * `info` is a string (UTF-8) or bytes. Raises "malformed-input" for a public
 * key that is not 1216 bytes or does not load.
 */
export async function seal(publicKey, info, plaintext) {
  const raw = viewBytes(publicKey);
  check(raw.length === PUBLIC_KEY_LENGTH, "an S1 public key is 1216 bytes");
  let recipientPublicKey;
  try {
    recipientPublicKey = await suite().kem.importKey("raw", toBytes(raw), true);
  } catch {
    throw new SealError("malformed-input", "not an S1 public key");
  }
  const sender = await suite().createSenderContext({ recipientPublicKey, info: infoBytes(info) });
  const ct = await sender.seal(toBytes(plaintext));
  return concat(new Uint8Array(sender.enc), new Uint8Array(ct));
}

/**
 * Open a Seal_S1 output with the 32-byte private seed. Raises
 * "hpke-open-failed" (wrong key, wrong info, altered or short data) and
 * "malformed-input" for a seed that is not 32 bytes.
 */
export async function open(seed, info, sealed) {
  const rawSeed = viewBytes(seed);
  check(rawSeed.length === SEED_LENGTH, "an S1 private key is a 32-byte seed");
  const data = viewBytes(sealed);
  if (data.length < ENC_LENGTH + AEAD_TAG_LENGTH) {
    throw new SealError("hpke-open-failed", "the sealed message does not open");
  }
  try {
    const recipientKey = await suite().kem.importKey("raw", toBytes(rawSeed), false);
    const recipient = await suite().createRecipientContext({
      recipientKey,
      enc: toBytes(data.subarray(0, ENC_LENGTH)),
      info: infoBytes(info),
    });
    return new Uint8Array(await recipient.open(toBytes(data.subarray(ENC_LENGTH))));
  } catch {
    throw new SealError("hpke-open-failed", "the sealed message does not open");
  }
}

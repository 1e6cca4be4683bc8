/**
 * The witness's receipt (docs/protocol.md §7, §10), witness keys and proof of work (§8).
 *
 * `verifyReceipt` checks a `201` answer as §10 says, in order:
 * 1. H(0x00 || entry) == id;
 * 2. the entry is exactly the submission entry of the request that was sent
 *    (it names its intake key, header, body, blobs and witness keys) at the
 *    `received` time the entry states; for a follow-up (a request with
 *    `parent`), the followup entry, whose `signature` verifies with its
 *    `witness` key over its own members (v1.1, `followupEntrySignedBytes`);
 * 3. the checkpoint's signature verifies with the pinned log key and it is of
 *    the expected origin;
 * 4. the inclusion proof of `index` in the checkpoint's tree leads to its root.
 * It raises a SealError: "bad-receipt" for 1, 2, 4 and structure, and the
 * checkpoint codes for 3 — the same classes as Python's
 * `testimony.crypto.receipts.verify_receipt`. Unlike there, the request is
 * required: a witness's page always has it, and §10 asks for the check.
 */
import { SealError, check } from "./errors.js";
import { b64uDecode, b64uEncode, equalBytes, fromUtf8, hexDecode } from "./bytes.js";
import { ed25519 } from "./ed25519.js";
import { leafHash, verifyInclusion } from "./merkle.js";
import { verifyCheckpoint } from "./checkpoint.js";
import { normaliseReceiptCode } from "./receipt-code.js";
import { publicKeyFromSeed } from "./s1.js";
import { followupEntry, followupEntrySignedBytes, submissionEntry } from "./submission.js";
import { runInWorker } from "./worker-client.js";

function receiptError(message) {
  return new SealError("bad-receipt", message);
}

function requireField(condition, message) {
  if (!condition) throw receiptError(message);
}

function decodeOr(decode, message) {
  try {
    return decode();
  } catch {
    throw receiptError(message);
  }
}

/**
 * Verify a receipt (§10) for the `request` that was sent (the §3 step 6
 * JSON), with the log verifier key the page pinned and the log's `origin`
 * (the key's name when undefined). Resolves to `{id, index, checkpoint:
 * {origin, size, root, time}, entry}`; raises as the module docstring says.
 */
export async function verifyReceipt(receipt, logVerifierKey, origin, request) {
  check(request !== null && typeof request === "object", "verifyReceipt needs the request that was sent");
  requireField(receipt !== null && typeof receipt === "object", "a receipt is a JSON object");
  const { id, index, entry: entryText, checkpoint: note, inclusion } = receipt;
  requireField(typeof id === "string", "a receipt has an id");
  const expectedLeaf = decodeOr(() => hexDecode(id, 32), "a receipt's id is a hex SHA-256");
  requireField(Number.isSafeInteger(index) && index >= 0, "a receipt's index is a non-negative integer");
  const entry = decodeOr(() => b64uDecode(entryText), "a receipt's entry is b64u");
  requireField(typeof note === "string", "a receipt carries a checkpoint");
  requireField(inclusion !== null && typeof inclusion === "object" && Array.isArray(inclusion.path),
    "a receipt carries an inclusion proof");
  requireField(inclusion.index === index, "the inclusion proof is for the receipt's index");
  const path = inclusion.path.map((node) => decodeOr(() => hexDecode(node, 32), "a proof node is a hex SHA-256"));

  // 1. The entry is the one the id names.
  const leaf = await leafHash(entry);
  requireField(equalBytes(leaf, expectedLeaf), "the entry does not hash to the receipt's id");
  // 2. The entry names this submission: byte for byte the entry of the request.
  let logged;
  try {
    logged = JSON.parse(fromUtf8(entry));
  } catch {
    throw receiptError("the entry is not JSON");
  }
  const received = logged?.received;
  const followup = request !== null && typeof request === "object" && "parent" in request;
  let expectedEntry;
  try {
    // A follow-up's entry names the witness key its signature verifies with.
    expectedEntry = followup
      ? await followupEntry(request, logged.witness, received)
      : await submissionEntry(request, received);
  } catch {
    throw receiptError("the entry does not name this submission");
  }
  requireField(equalBytes(expectedEntry, entry), "the entry does not name this submission");
  if (followup) {
    // From the entry alone (which is byte for byte the request's, above).
    const valid = await (await ed25519()).verify(
      b64uDecode(logged.witness),
      followupEntrySignedBytes(logged),
      b64uDecode(logged.signature),
    );
    requireField(valid, "the follow-up's signature does not verify with the entry's witness key");
  }
  // 3. The checkpoint is the log's, signed by its pinned key.
  const checkpoint = await verifyCheckpoint(note, logVerifierKey, origin);
  // 4. The entry is in the checkpoint's tree.
  requireField(Number.isSafeInteger(inclusion.size) && BigInt(inclusion.size) === checkpoint.size,
    "the inclusion proof is for the checkpoint's tree size");
  try {
    await verifyInclusion(index, checkpoint.size, leaf, path, checkpoint.root);
  } catch {
    throw receiptError("the inclusion proof does not lead to the checkpoint");
  }
  return { id, index, checkpoint, entry };
}

/**
 * The witness's keys of a receipt code (§7): Argon2id in a Worker (64 MiB,
 * about a third of a second), then the Ed25519 key from seed[0:32] and the S1
 * key from seed[32:64]. Resolves to `{digits, signingSeed, boxSeed, witness
 * (32 bytes), witnessBox (1216 bytes), witnessB64u, witnessBoxB64u}`. Raises
 * "bad-receipt-code" for a code that is not one.
 */
export async function deriveWitnessKeys(code, { workerUrl, signal } = {}) {
  const digits = normaliseReceiptCode(code);
  const seed = new Uint8Array(await runInWorker("argon2", { password: digits }, { workerUrl, signal }));
  const signingSeed = seed.slice(0, 32);
  const boxSeed = seed.slice(32, 64);
  seed.fill(0);
  const witness = await (await ed25519()).publicKey(signingSeed);
  const witnessBox = await publicKeyFromSeed(boxSeed);
  return {
    digits,
    signingSeed,
    boxSeed,
    witness,
    witnessBox,
    witnessB64u: b64uEncode(witness),
    witnessBoxB64u: b64uEncode(witnessBox),
  };
}

/**
 * Solve a §8 challenge in a Worker: resolves to the b64u nonce for which
 * H(challenge bytes || nonce) has at least `bits` leading zero bits.
 */
export async function solvePow(challenge, bits, { workerUrl, signal, onProgress } = {}) {
  const challengeBytes = b64uDecode(challenge);
  const nonce = await runInWorker("pow", { challenge: challengeBytes, bits }, { workerUrl, signal, onProgress });
  return b64uEncode(nonce);
}


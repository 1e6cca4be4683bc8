/**
 * Signed log checkpoints (docs/protocol.md §9): a C2SP tlog-checkpoint in a C2SP
 * signed note, verified as `testimony.crypto.checkpoint.verify` does:
 *
 * 1. the verifier key `<name>+<hex key hash>+<base64(0x01 || public key)>`
 *    parses and its key hash is H(name || 0x0A || 0x01 || public key)[:4];
 * 2. the note carries exactly one signature by that key (key name *and* key
 *    hash; other signers are skipped), and it verifies over the note text;
 * 3. the signed text is exactly `<origin>\n<size>\n<base64 root>\ntime <RFC 3339>\n`,
 *    each line in its one canonical spelling;
 * 4. the origin is the expected one (by default the key's name).
 *
 * Error codes: "malformed-input" (the key), "malformed-checkpoint",
 * "unknown-checkpoint-key", "bad-checkpoint-signature",
 * "checkpoint-origin-mismatch".
 */
import { SealError, check } from "./errors.js";
import { b64Decode, concat, equalBytes, hexDecode, sha256, utf8 } from "./bytes.js";
import { ed25519 } from "./ed25519.js";

const SIGNATURE_PREFIX = "\u2014 ";
const MAX_SIGNATURES = 100;
const MAX_NOTE_BYTES = 1 << 20;
const KEY_HASH_BYTES = 4;
const MAX_TREE_SIZE = 2n ** 64n - 1n;
const SIZE = /^(?:0|[1-9][0-9]{0,19})$/;
const TIME = /^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z$/;
// Python's str.isspace() characters: a key name has none of them.
const SPACE = /[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f]/;
// eslint-disable-next-line no-control-regex
const CONTROL_BUT_NEWLINE = /[\x00-\x09\x0b-\x1f]/;

function formatError(message) {
  return new SealError("malformed-checkpoint", message);
}

function isKeyName(name) {
  return typeof name === "string" && name !== "" && !name.includes("+") && !SPACE.test(name) &&
    !CONTROL.test(name) && name.isWellFormed();
}

/** H(name || 0x0A || 0x01 || publicKey)[:4], the C2SP key hash. */
export async function keyHash(name, publicKey) {
  return (await sha256(concat(utf8(name), new Uint8Array([0x0a, 0x01]), publicKey))).slice(0, KEY_HASH_BYTES);
}

/**
 * Parse a verifier key string into `{name, keyHash, publicKey}`. Raises
 * "malformed-input" unless it is exactly one, with a matching key hash.
 */
export async function parseVerifierKey(text) {
  check(typeof text === "string", "a verifier key is a string");
  const first = text.indexOf("+");
  const second = first < 0 ? -1 : text.indexOf("+", first + 1);
  check(second > 0, "a verifier key is <name>+<hex key hash>+<base64 key>");
  const name = text.slice(0, first);
  check(isKeyName(name), "a key name is non-empty, without spaces or '+'");
  const expectedHash = hexDecode(text.slice(first + 1, second), KEY_HASH_BYTES);
  const typedKey = b64Decode(text.slice(second + 1));
  check(typedKey.length === 33 && typedKey[0] === 0x01, "a verifier key is 0x01 followed by a 32-byte Ed25519 key");
  const publicKey = typedKey.slice(1);
  check(equalBytes(await keyHash(name, publicKey), expectedHash), "the key hash does not match the key name and public key");
  return { name, keyHash: expectedHash, publicKey };
}

function parseSignatureLine(line) {
  if (!line.startsWith(SIGNATURE_PREFIX)) throw formatError("a signature line starts with an em dash and a space");
  const rest = line.slice(SIGNATURE_PREFIX.length);
  const space = rest.indexOf(" ");
  const name = space < 0 ? "" : rest.slice(0, space);
  if (space < 0 || !isKeyName(name)) throw formatError("a signature line names a valid key");
  let raw;
  try {
    raw = b64Decode(rest.slice(space + 1));
  } catch {
    throw formatError("a signature is canonical standard base64");
  }
  if (raw.length <= KEY_HASH_BYTES) throw formatError("a signature is a key hash and at least one byte");
  return { name, keyHash: raw.slice(0, KEY_HASH_BYTES), signature: raw.slice(KEY_HASH_BYTES) };
}

/** Split a signed note into `{text, signatures}`, verifying nothing. */
export function parseNote(note) {
  check(typeof note === "string", "a note is a string");
  // 1. Size, encoding and characters, before any other work.
  if (note.length > MAX_NOTE_BYTES || !note.isWellFormed() || utf8(note).length > MAX_NOTE_BYTES) {
    throw formatError("a note is UTF-8 and at most 1 MiB");
  }
  if (CONTROL_BUT_NEWLINE.test(note)) throw formatError("a note has no control characters but newline");
  // 2. The text ends at the last blank line and keeps its final newline.
  const split = note.lastIndexOf("\n\n");
  if (split < 0) throw formatError("a note has a blank line before its signatures");
  const text = note.slice(0, split + 1);
  const block = note.slice(split + 2);
  if (!block.endsWith("\n")) throw formatError("a note ends with a signature line and a newline");
  const lines = block.slice(0, -1).split("\n");
  // 3. Cap the signature lines before parsing any.
  if (lines.length > MAX_SIGNATURES) throw formatError(`a note has at most ${MAX_SIGNATURES} signatures`);
  return { text, signatures: lines.map(parseSignatureLine) };
}

function validDate(year, month, day, hour, minute, second) {
  if (year < 1 || month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59 || day < 1) return false;
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
  return day <= days;
}

function parseText(text) {
  const lines = text.endsWith("\n") ? text.slice(0, -1).split("\n") : [];
  if (lines.length !== 4) throw formatError("a checkpoint is origin, size, root and time lines, nothing else");
  const [origin, sizeLine, rootLine, timeLine] = lines;
  if (origin === "" || CONTROL.test(origin)) throw formatError("a checkpoint's origin line is not empty");
  if (!SIZE.test(sizeLine) || BigInt(sizeLine) > MAX_TREE_SIZE) {
    throw formatError("a tree size is decimal without sign or leading zeros, in 64 bits");
  }
  let root;
  try {
    root = b64Decode(rootLine);
  } catch {
    throw formatError("a root hash is canonical standard base64");
  }
  if (root.length !== 32) throw formatError("a root hash is 32 bytes");
  const time = timeLine.startsWith("time ") ? timeLine.slice(5) : null;
  const parts = time === null ? null : TIME.exec(time);
  if (parts === null || !validDate(...parts.slice(1).map(Number))) {
    throw formatError("a checkpoint's fourth line is 'time YYYY-MM-DDTHH:MM:SSZ'");
  }
  return { origin, size: BigInt(sizeLine), root, time };
}

/**
 * Verify a signed checkpoint with the log's verifier key; resolve to
 * `{origin, size (BigInt), root (32 bytes), time (string)}`. The expected
 * origin is `origin`, or the key's name when it is undefined. Raises as the
 * module docstring says.
 */
export async function verifyCheckpoint(note, verifierKey, origin) {
  // 1. The key, and the origin it vouches for.
  const key = await parseVerifierKey(verifierKey);
  check(origin === undefined || origin === null || (typeof origin === "string" && origin !== "" && !CONTROL.test(origin)),
    "an expected origin is a non-empty line");
  const expectedOrigin = origin ?? key.name;
  // 2. The signature, before anything in the text is read.
  const parsed = parseNote(note);
  const mine = parsed.signatures.filter((s) => s.name === key.name && equalBytes(s.keyHash, key.keyHash));
  if (mine.length === 0) throw new SealError("unknown-checkpoint-key", "the checkpoint is not signed by the log key");
  if (mine.length > 1) throw formatError("a note carries one signature per key");
  const signature = mine[0].signature;
  const impl = await ed25519();
  if (signature.length !== 64 || !(await impl.verify(key.publicKey, utf8(parsed.text), signature))) {
    throw new SealError("bad-checkpoint-signature", "the checkpoint signature does not verify");
  }
  // 3. The signed text, strictly.
  const checkpoint = parseText(parsed.text);
  // 4. The log it speaks for.
  if (checkpoint.origin !== expectedOrigin) {
    throw new SealError("checkpoint-origin-mismatch", "the checkpoint is of another log");
  }
  return checkpoint;
}

/**
 * The log's Merkle tree as a client needs it (docs/protocol.md §9, RFC 9162
 * §2.1): leaf hashes, node hashes and inclusion-proof verification with the
 * algorithm of RFC 9162 §2.1.3.2, as `testimony.crypto.merkle.verify_inclusion`.
 */
import { SealError } from "./errors.js";
import { concat, equalBytes, sha256 } from "./bytes.js";

const MAX_TREE_SIZE = 2n ** 64n - 1n;

/** H(0x00 || entry): an entry's leaf hash (its id is the hex of this). */
export async function leafHash(entry) {
  return sha256(concat(new Uint8Array([0]), entry));
}

/** H(0x01 || left || right). */
export async function nodeHash(left, right) {
  return sha256(concat(new Uint8Array([1]), left, right));
}

function proofError(message) {
  return new SealError("bad-proof", message);
}

/**
 * Check that `leaf` is leaf `index` of the tree of `size` leaves whose root
 * is `root` (RFC 9162 §2.1.3.2). `index` and `size` are non-negative safe
 * integers or BigInts. Resolves to nothing; raises "bad-tree-size" unless
 * 0 <= index < size <= 2^64 - 1, and "bad-proof" if a hash is not 32 bytes or
 * the proof does not lead to `root`.
 */
export async function verifyInclusion(index, size, leaf, path, root) {
  // 1. leaf_index < tree_size, both in range.
  let fn = toBig(index);
  let sn = toBig(size);
  if (fn === null || sn === null || fn < 0n || sn > MAX_TREE_SIZE || fn >= sn) {
    throw new SealError("bad-tree-size", "the index is not inside the tree");
  }
  for (const hash of [leaf, root, ...path]) {
    if (!(hash instanceof Uint8Array) || hash.length !== 32) throw proofError("a proof hash is 32 bytes");
  }
  // 2. fn = leaf_index, sn = tree_size - 1.  3. r = hash.
  sn -= 1n;
  let r = leaf;
  // 4. Fold in each path element.
  for (const p of path) {
    if (sn === 0n) throw proofError("inclusion proof does not verify"); // 4a
    if ((fn & 1n) === 1n || fn === sn) {
      r = await nodeHash(p, r); // 4b: a left sibling
      while (fn !== 0n && (fn & 1n) === 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      r = await nodeHash(r, p); // a right sibling
    }
    fn >>= 1n; // 4c
    sn >>= 1n;
  }
  // 5. The whole height was covered and the result is the root.
  if (sn !== 0n || !equalBytes(r, root)) throw proofError("inclusion proof does not verify");
}

function toBig(value) {
  if (typeof value === "bigint") return value;
  if (Number.isSafeInteger(value)) return BigInt(value);
  return null;
}

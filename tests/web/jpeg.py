"""A small JPEG carrying GPS coordinates in Exif (and XMP), built by hand.

The witness page removes photo location data by dropping every APP1 segment
that carries Exif or XMP (``service/web/js/src/photo-location.js``); this
module builds such a photo and, independently, the bytes expected after
removal: the same segments in the same order, without the two APP1 segments.
"""

from __future__ import annotations

import struct


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def _exif_with_gps() -> bytes:
    """``Exif\\0\\0`` + a big-endian TIFF: IFD0 with a GPSInfo pointer, a GPS IFD
    with latitude 43.05 N, longitude 74.98 E."""
    gps_ifd_offset = 8 + 2 + 12 + 4
    ifd0 = struct.pack(">H", 1) + struct.pack(">HHII", 0x8825, 4, 1, gps_ifd_offset) + bytes(4)
    entries = 4
    data_offset = gps_ifd_offset + 2 + entries * 12 + 4
    latitude = struct.pack(">IIIIII", 43, 1, 3, 1, 0, 1)
    longitude = struct.pack(">IIIIII", 74, 1, 58, 1, 48, 1)
    gps = struct.pack(">H", entries)
    gps += struct.pack(">HHI", 0x0001, 2, 2) + b"N\0\0\0"
    gps += struct.pack(">HHII", 0x0002, 5, 3, data_offset)
    gps += struct.pack(">HHI", 0x0003, 2, 2) + b"E\0\0\0"
    gps += struct.pack(">HHII", 0x0004, 5, 3, data_offset + len(latitude))
    gps += bytes(4)
    tiff = b"MM\0\x2a" + struct.pack(">I", 8) + ifd0 + gps + latitude + longitude
    return b"Exif\0\0" + tiff


_XMP = (
    b"http://ns.adobe.com/xap/1.0/\0"
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="43,3.0N"'
    b' exif:GPSLongitude="74,58.8E"/></rdf:RDF></x:xmpmeta>'
)


def photo_with_gps() -> tuple[bytes, bytes]:
    """``(photo, photo without location data)``: a baseline 8x8 greyscale JPEG
    layout (SOI, APP0 JFIF, APP1 Exif with GPS, APP1 XMP, DQT, SOF0, DHT, SOS,
    scan bytes, EOI); the second is the same without the APP1 segments."""
    jfif = _segment(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0")
    exif = _segment(0xE1, _exif_with_gps())
    xmp = _segment(0xE1, _XMP)
    dqt = _segment(0xDB, b"\0" + bytes(range(1, 65)))
    sof = _segment(0xC0, b"\x08\0\x08\0\x08\x01\x01\x11\0")
    dht = _segment(0xC4, b"\0" + bytes([0, 1] + [0] * 14) + b"\0")
    sos = _segment(0xDA, b"\x01\x01\0\0\x3f\0")
    scan = bytes([0x12, 0x34, 0xFF, 0x00, 0x56, 0x78]) * 40  # stuffed 0xFF00 inside the scan
    soi, eoi = b"\xff\xd8", b"\xff\xd9"
    photo = soi + jfif + exif + xmp + dqt + sof + dht + sos + scan + eoi
    stripped = soi + jfif + dqt + sof + dht + sos + scan + eoi
    return photo, stripped

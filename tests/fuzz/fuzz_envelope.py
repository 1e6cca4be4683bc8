"""Coverage-guided fuzzing of ``read_envelope`` (service/courier/envelope.py,
docs/protocol.md §4) with atheris, libFuzzer for Python.

    .venv/bin/python tests/fuzz/fuzz_envelope.py -runs=100000
    .venv/bin/python tests/fuzz/fuzz_envelope.py -max_total_time=600 corpus/

Every libFuzzer flag works (``-seed=``, ``-timeout=``, a corpus folder). The
only outcome allowed is an envelope read, or refused with ``EnvelopeInvalid``;
anything else escaping ``read_envelope`` is a crash, which libFuzzer reports
with the input that caused it (``crash-<sha1>``) and a non-zero exit; an
input that runs past ``-timeout`` seconds (10 unless given) is a hang.

Each input is either raw bytes for the whole file, or (mostly) an edit script
applied to the independent vector envelope
(``tests/vectors/testimony/submission.testimony``): fields of its local
headers, central directory and end record overwritten, bits flipped, the
file cut or grown. libFuzzer mutates the script, so it starts from a valid
ZIP instead of searching for one.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import struct
import sys
import tempfile
import zipfile
from pathlib import Path

import atheris

from testimony.service.courier.envelope import read_envelope
from testimony.service.courier.errors import EnvelopeInvalid

VECTOR = Path(__file__).resolve().parents[1] / "vectors" / "testimony" / "submission.testimony"
SOURCE = VECTOR.read_bytes()


def _header_positions(data: bytes) -> list[int]:
    """The offsets of every byte of ZIP structure (APPNOTE 4.3.7, 4.3.12, 4.3.16)."""
    end = data.rfind(b"PK\x05\x06")
    start = struct.unpack("<L", data[end + 16 : end + 20])[0]
    with zipfile.ZipFile(VECTOR) as archive:
        local = [
            p
            for info in archive.infolist()
            for p in range(info.header_offset, info.header_offset + 30 + len(info.filename))
        ]
    return sorted({*local, *range(start, len(data))})


HEADERS = _header_positions(SOURCE)


def _case_file() -> tuple[Path, int | None]:
    """Where each case is written: an anonymous in-memory file where Linux has
    them (libFuzzer ends the process without running ``atexit``), else a
    temporary file."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("testimony-fuzz-case")
        return Path(f"/proc/self/fd/{fd}"), fd
    folder = Path(tempfile.mkdtemp(prefix="testimony-fuzz-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder / "case.testimony", None


_CASE, _FD = _case_file()


def envelope_bytes(data: bytes) -> bytes:
    """The file one fuzz input stands for (the module docstring)."""
    fdp = atheris.FuzzedDataProvider(data)
    if fdp.ConsumeIntInRange(0, 7) == 0:
        return fdp.ConsumeBytes(fdp.remaining_bytes())
    out = bytearray(SOURCE)
    for _ in range(fdp.ConsumeIntInRange(1, 4)):
        kind = fdp.ConsumeIntInRange(0, 4)
        if kind <= 1 and out:  # a field of the structure
            at = HEADERS[fdp.ConsumeIntInRange(0, len(HEADERS) - 1)] % len(out)
            value = fdp.ConsumeBytes(fdp.PickValueInList([1, 2, 4, 8]))
            out[at : at + len(value)] = value
        elif kind == 2 and out:  # a bit anywhere
            at = fdp.ConsumeIntInRange(0, len(out) - 1)
            out[at] ^= 1 << fdp.ConsumeIntInRange(0, 7)
        elif kind == 3:  # cut
            del out[fdp.ConsumeIntInRange(0, len(out)) :]
        else:  # grow
            at = fdp.ConsumeIntInRange(0, len(out))
            out[at:at] = fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 16))
    return bytes(out)


def _write_case(content: bytes) -> None:
    if _FD is None:
        _CASE.write_bytes(content)
    else:
        os.ftruncate(_FD, 0)
        os.pwrite(_FD, content, 0)


def one_input(data: bytes) -> None:
    """libFuzzer's target: only ``EnvelopeInvalid`` may escape ``read_envelope``."""
    _write_case(envelope_bytes(data))
    with contextlib.suppress(EnvelopeInvalid):
        read_envelope(_CASE)


def main(argv: list[str]) -> None:
    if not any(arg.startswith("-timeout=") for arg in argv[1:]):
        argv = [*argv, "-timeout=10"]
    atheris.instrument_all()
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)

"""Coverage-guided fuzzing of what a recipient runs on an evidence bundle that
came from someone else (docs/protocol.md §11), with atheris, libFuzzer for
Python:

- the ZIP readers of ``testimony.client.bundle.archive``: ``check_zip`` and
  ``open_bag`` (which extracts), then ``bag.read_bag`` of what was extracted;
- ``bag.read_bag`` and ``bag.check_bag`` of a bag whose tag files
  (``bagit.txt``, ``bag-info.txt``, ``manifest-sha256.txt``,
  ``tagmanifest-sha256.txt``) and, now and then, one payload file come from
  the input;
- ``verify.verify`` of that bag, and of the ZIP.

::

    .venv/bin/python tests/fuzz/fuzz_bundle.py -runs=100000
    .venv/bin/python tests/fuzz/fuzz_bundle.py -max_total_time=600 corpus/

Every libFuzzer flag works (``-seed=``, ``-timeout=``, a corpus folder). The
outcomes allowed: ``check_zip`` and ``open_bag`` return or refuse with
``ArchiveRefused``; ``read_bag`` and ``check_bag`` always return (a problem
is a ``Problem`` in the list, never an exception); ``verify`` of a folder
always returns a ``Verdict``, and of a ZIP returns one or refuses the
archive with ``ArchiveRefused`` (its documented refusal). Anything else
escaping is a crash, which libFuzzer reports with the input that caused it
(``crash-<sha1>``) and a non-zero exit; an input that runs past ``-timeout``
seconds (10 unless given) is a hang.

The inputs start from a real bundle, built once at start-up by
:func:`build_seed_bundle` with ``BagWriter`` and ``zip_bag``: a testimony
(the submission vector of ``tests/vectors/testimony/submission.json``, with
its two attachments), a governance log, a disclosed incident annotation and
its incident record, a signed checkpoint and the export receipt, which
``verify`` finds VERIFIED. Each input is mostly an edit script over it, so
libFuzzer mutates from a valid bundle instead of searching for one: for the
ZIP, fields of its headers overwritten, bits flipped, the file cut or grown
(as ``fuzz_envelope.py`` does); for the folder, a tag file or payload file
replaced by the input's bytes, edited, or cut. Now and then an input is the
raw bytes of the whole file instead.

Everything is written in a private folder that a parent process removes
when the fuzzing ends, however it ends (libFuzzer leaves without running
``atexit``); the bundle readers' own temporary folders go there too.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import struct
import sys
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import atheris

from testimony.client.bundle import layout
from testimony.client.bundle.archive import ArchiveRefused, check_zip, open_bag, zip_bag
from testimony.client.bundle.bag import (
    BAG_INFO,
    BAGIT_TXT,
    MANIFEST,
    TAG_MANIFEST,
    BagWriter,
    check_bag,
    read_bag,
)
from testimony.client.bundle.verify import Verdict, fold_incident, verify
from testimony.crypto import canonical, checkpoint, hpke, merkle, signing
from testimony.crypto.encoding import b64u_decode, b64u_encode
from testimony.crypto.keyring import Identity, group_key, seal_payload

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "testimony"
SUBMISSION: dict[str, Any] = json.loads((VECTORS / "submission.json").read_text("utf-8"))

ORIGIN = "fuzz.example.org/log"
LOG_KEY = signing.private_key_from_seed(bytes(range(96, 128)))
VERIFIER = checkpoint.verifier_key(ORIGIN, signing.public_key_bytes(LOG_KEY))
RECEIVED = "2026-11-25T12:00:00Z"
TIME = datetime(2026, 11, 25, 12, tzinfo=UTC)
FOUNDER = Identity(bytes([1]) * 32, bytes([101]) * 32)
GROUP_SECRET = bytes(range(32))
INCIDENT = "1f" * 16
BUNDLE_ID = "fuzz-bundle-1"
PROFILE = "prosecutor"
TAG_FILES = (BAGIT_TXT, BAG_INFO, MANIFEST, TAG_MANIFEST)


# --- the seed: a small bundle that verifies -------------------------------------------


def _jcs(value: Any) -> bytes:
    return canonical.dumps(value)


def _signed(body: dict[str, Any], nonce: int) -> bytes:
    """A §12.2 entry by the founder, as the log holds it (signed, with ``received``)."""
    full = {
        "v": 1,
        **body,
        "actor": FOUNDER.id,
        "nonce": b64u_encode(nonce.to_bytes(16, "big")),
    }
    return _jcs({**FOUNDER.sign_entry(full), "received": RECEIVED})


def _export_payload() -> dict[str, Any]:
    return {
        "v": 1,
        "kind": "export",
        "profile": PROFILE,
        "recipient": PROFILE,
        "testimonies": [SUBMISSION["id"]],
        "followups": [],
        "incidents": [INCIDENT],
    }


def build_seed_bundle(root: Path) -> Path:
    """Write at ``root`` (which must not exist) a bundle that ``verify`` finds
    VERIFIED, self-certified: entry 0 names the vector's intake key, entry 1
    founds the organisation, entry 2 is the vector's submission, entry 3 an
    incident annotation (disclosed in ``custody/events.jsonl``); the bundle's
    checkpoint is of those four entries, and the export entry is entry 4,
    its receipt's checkpoint of five."""
    intake = hpke.public_key(bytes.fromhex(SUBMISSION["intake_seed"]))
    sign_key, box_key = b64u_encode(FOUNDER.sign_public), b64u_encode(FOUNDER.box_public)
    policy = {
        "enrol": 1,
        "revoke": 1,
        "export": 1,
        "shred": 1,
        "rotate": 1,
        "policy": 1,
        "index_bits": {"tag": 16, "place": 16, "incident": 16},
    }
    annotation_payload = {
        "v": 1,
        "kind": "incident",
        "incident": INCIDENT,
        "fields": {"title": "Fire in Masanchi", "start": "2026-02-07", "status": "alleged"},
    }
    nonce = (3).to_bytes(16, "big")
    annotation_key = group_key(GROUP_SECRET, nonce)
    leaves = [
        _jcs(
            {
                "type": "intake-key",
                "v": 1,
                "key": b64u_encode(intake),
                "key_id": hpke.key_id(intake),
                "received": RECEIVED,
            }
        ),
        _signed(
            {
                "type": "org",
                "sign_key": sign_key,
                "box_key": box_key,
                "setup": "0" * 64,
                "policy": policy,
            },
            1,
        ),
        b64u_decode(SUBMISSION["entry"]),
        _signed(
            {
                "type": "annotation",
                "epoch": 0,
                "index": [],
                "sealed": seal_payload(annotation_key, annotation_payload),
            },
            3,
        ),
    ]
    store = merkle.MemoryHashStore()
    grown = merkle.append(0, [merkle.leaf_hash(leaf) for leaf in leaves], store)
    store.write_nodes(grown.nodes)
    size = len(leaves)

    def logged(index: int) -> dict[str, Any]:
        return {
            "id": merkle.leaf_hash(leaves[index]).hex(),
            "index": index,
            "entry": b64u_encode(leaves[index]),
            "path": [node.hex() for node in merkle.inclusion_proof(index, size, store)],
        }

    bag = BagWriter(
        root,
        {
            "Source-Organization": "Fuzz",
            "Bagging-Date": "2026-11-25",
            "External-Identifier": BUNDLE_ID,
        },
    )
    folder = layout.testimony_dir(SUBMISSION["id"])
    request = SUBMISSION["request"]
    submission = logged(2)
    bag.add_bytes(
        f"{folder}/{layout.ENTRY}",
        _jcs({k: submission[k] for k in ("id", "index", "entry")}),
    )
    bag.add_bytes(
        f"{folder}/{layout.PROOF}", _jcs({"index": 2, "size": size, "path": submission["path"]})
    )
    bag.add_bytes(f"{folder}/{layout.HEADER}", b64u_decode(request["header"]))
    bag.add_bytes(f"{folder}/{layout.BODY}", b64u_decode(request["body"]))
    bag.add_bytes(f"{folder}/{layout.CEK}", SUBMISSION["cek"].encode("ascii") + b"\n")
    manifest = b64u_decode(SUBMISSION["manifest_jcs"])
    bag.add_bytes(f"{folder}/{layout.MANIFEST}", manifest)
    for blob, sealed in SUBMISSION["blobs"].items():
        bag.add_bytes(f"{folder}/{layout.BLOBS}/{blob}", b64u_decode(sealed))
    contents = {f["name"]: b64u_decode(f["content"]) for f in SUBMISSION["files"]}
    for n, descriptor in enumerate(json.loads(manifest)["attachments"]):
        name = layout.file_name(n, descriptor["name"])
        bag.add_bytes(f"{folder}/{layout.FILES}/{name}", contents[descriptor["name"]])
    form = SUBMISSION["form"]
    bag.add_bytes(layout.form_path(form["id"], form["version"]), _jcs(form))
    events = [{**logged(3), "key": b64u_encode(annotation_key), "payload": annotation_payload}]
    bag.add_bytes(
        layout.incident_path(INCIDENT),
        _jcs(fold_incident(INCIDENT, [(events[0]["id"], annotation_payload)])),
    )
    bag.add_bytes(layout.REPORT, b"<!doctype html><title>Bundle</title><p>A report.</p>\n")
    bag.add_bytes(layout.LOG_KEY, VERIFIER.encode("ascii") + b"\n")
    bag.add_bytes(
        layout.CHECKPOINT,
        checkpoint.sign(ORIGIN, size, grown.root, LOG_KEY, ORIGIN, TIME).encode("utf-8"),
    )
    bag.add_bytes(layout.GOVERNANCE, b"".join(_jcs(logged(i)) + b"\n" for i in (0, 1)))
    bag.add_bytes(layout.EVENTS, b"".join(_jcs(line) + b"\n" for line in events))
    bag.add_bytes(layout.REVIEWERS, _jcs({FOUNDER.id: {"sign_key": sign_key, "box_key": box_key}}))
    bag.add_bytes(
        layout.BUNDLE_JSON,
        _jcs(
            {
                "v": 1,
                "id": BUNDLE_ID,
                "profile": PROFILE,
                "exported_by": FOUNDER.id,
                "checkpoint": size,
                "testimonies": [SUBMISSION["id"]],
                "followups": [],
                "incidents": [INCIDENT],
                "redactions": [],
            }
        ),
    )
    manifest_sha256 = bag.finish_payload()

    # The export entry, logged after the bundle's checkpoint, and its receipt.
    nonce = (4).to_bytes(16, "big")
    export_key = group_key(GROUP_SECRET, nonce)
    export = _signed(
        {
            "type": "export",
            "epoch": 0,
            "manifest": manifest_sha256,
            "sealed": seal_payload(export_key, _export_payload()),
        },
        4,
    )
    more = merkle.append(size, [merkle.leaf_hash(export)], store)
    store.write_nodes(more.nodes)
    receipt = {
        "id": merkle.leaf_hash(export).hex(),
        "index": size,
        "entry": b64u_encode(export),
        "checkpoint": checkpoint.sign(ORIGIN, size + 1, more.root, LOG_KEY, ORIGIN, TIME),
        "inclusion": {
            "index": size,
            "size": size + 1,
            "path": [node.hex() for node in merkle.inclusion_proof(size, size + 1, store)],
        },
        "consistency": {
            "from": size,
            "to": size + 1,
            "path": [node.hex() for node in merkle.consistency_proof(size, size + 1, store)],
        },
        "key": b64u_encode(export_key),
        "payload": _export_payload(),
    }
    bag.add_tag_file(layout.EXPORT_RECEIPT, _jcs(receipt))
    bag.close()
    return root


# --- the inputs -------------------------------------------------------------------------


def _zip_structure(data: bytes) -> list[int]:
    """The offsets of every byte of ZIP structure (APPNOTE 4.3.7, 4.3.12, 4.3.16)."""
    end = data.rfind(b"PK\x05\x06")
    start = struct.unpack("<L", data[end + 16 : end + 20])[0]
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        local = [
            p
            for info in archive.infolist()
            for p in range(info.header_offset, info.header_offset + 30 + len(info.filename))
        ]
    return sorted({*local, *range(start, len(data))})


def _edit(fdp: Any, source: bytes, positions: list[int] | None = None) -> bytes:
    """``source`` with one to four edits of the input: a field of its structure
    overwritten (``positions``, else anywhere), a bit flipped, cut or grown."""
    out = bytearray(source)
    for _ in range(fdp.ConsumeIntInRange(1, 4)):
        kind = fdp.ConsumeIntInRange(0, 4)
        if kind <= 1 and out:  # a field (or any few bytes)
            pool = positions or range(len(out))
            at = pool[fdp.ConsumeIntInRange(0, len(pool) - 1)] % len(out)
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


class Harness:
    """The seed bundle, its ZIP, and the working copies each input is written to."""

    def __init__(self, work: Path) -> None:
        self.work = work
        (work / "seed").mkdir()
        self.seed = build_seed_bundle(work / "seed" / "bundle")
        self.seed_zip = work / "seed.zip"
        zip_bag(self.seed, self.seed_zip)
        self.zip_bytes = self.seed_zip.read_bytes()
        self.zip_positions = _zip_structure(self.zip_bytes)
        self.case_zip = work / "case.zip"
        self.case = work / "case" / "bundle"
        shutil.copytree(self.seed, self.case)
        self.tags = {name: (self.seed / name).read_bytes() for name in TAG_FILES}
        self.payload = sorted(
            p.relative_to(self.seed).as_posix()
            for p in (self.seed / "data").rglob("*")
            if p.is_file()
        )
        self.changed: str | None = None

    def one_input(self, data: bytes) -> None:
        """libFuzzer's target (the module docstring says what may escape)."""
        fdp = atheris.FuzzedDataProvider(data)
        if fdp.ConsumeIntInRange(0, 2) == 0:
            self.zip_case(fdp)
        else:
            self.bag_case(fdp)

    def zip_case(self, fdp: Any) -> None:
        raw = fdp.ConsumeIntInRange(0, 7) == 0
        content = (
            fdp.ConsumeBytes(fdp.remaining_bytes())
            if raw
            else _edit(fdp, self.zip_bytes, self.zip_positions)
        )
        self.case_zip.write_bytes(content)
        with contextlib.suppress(ArchiveRefused):
            check_zip(self.case_zip)
        with contextlib.suppress(ArchiveRefused), open_bag(self.case_zip) as root:
            read_bag(root)
        with contextlib.suppress(ArchiveRefused):
            assert isinstance(verify(self.case_zip), Verdict)

    def bag_case(self, fdp: Any) -> None:
        # Put back what the previous input changed.
        if self.changed is not None:
            (self.case / self.changed).write_bytes((self.seed / self.changed).read_bytes())
            self.changed = None
        for name in TAG_FILES:
            how = fdp.ConsumeIntInRange(0, 5)
            if how == 0:
                content = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 512))
            elif how == 1:
                content = _edit(fdp, self.tags[name])
            else:
                content = self.tags[name]
            (self.case / name).write_bytes(content)
        if fdp.ConsumeBool():
            self.changed = self.payload[fdp.ConsumeIntInRange(0, len(self.payload) - 1)]
            original = (self.seed / self.changed).read_bytes()
            content = (
                fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 1024))
                if fdp.ConsumeIntInRange(0, 3) == 0
                else _edit(fdp, original)
            )
            (self.case / self.changed).write_bytes(content)
        checked = read_bag(self.case)
        assert check_bag(self.case) == checked.problems
        assert isinstance(verify(self.case), Verdict)


def _work_folder() -> Path:
    """A private folder, removed by a parent process when this one ends."""
    work = Path(tempfile.mkdtemp(prefix="testimony-fuzz-bundle-"))
    child = os.fork()
    if child:
        _, status = os.waitpid(child, 0)
        shutil.rmtree(work, ignore_errors=True)
        code = os.waitstatus_to_exitcode(status)
        os._exit(code if code >= 0 else 128 - code)
    return work


def main(argv: list[str]) -> None:
    if not any(arg.startswith("-timeout=") for arg in argv[1:]):
        argv = [*argv, "-timeout=10"]
    work = _work_folder()
    tempfile.tempdir = str(work)  # open_bag's own folders
    harness = Harness(work)
    assert verify(harness.seed).ok, "the seed bundle does not verify"
    atheris.instrument_all()
    atheris.Setup(argv, harness.one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)

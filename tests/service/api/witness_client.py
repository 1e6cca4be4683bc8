"""A witness's client written from docs/protocol.md, for the tests.

It seals with ``testimony.crypto`` (§2, §3), uploads over tus (§6) paying each
creation's proof of work in ``Upload-Metadata``, solves the proof of work (§8),
submits (§3 step 6), and verifies its receipt (§10) with
the protocol's algorithms only — the RFC 9162 leaf hash and inclusion proof
and the signed checkpoint of §9 — against a log key it pinned beforehand, and
then asks ``testimony.crypto.receipts.verify_receipt`` for the same verdict. It
uses nothing of ``testimony.service``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from testimony.crypto import checkpoint, merkle, receipts, submission
from testimony.crypto.encoding import b64u_decode, b64u_encode

TUS = {"Tus-Resumable": "1.0.0"}


@dataclass
class Sealed:
    """A sealed submission ready to send: the request and the blobs to upload first."""

    request: dict[str, Any]
    blobs: dict[str, bytes]
    header: bytes
    body: bytes


def leading_zero_bits(digest: bytes) -> int:
    return len(digest) * 8 - int.from_bytes(digest, "big").bit_length()


class WitnessClient:
    """Talks to the server through ``http`` (an ``httpx.Client`` or a ``TestClient``)."""

    def __init__(self, http: Any, *, log_key: str, origin: str) -> None:
        self.http = http
        self.log_key = log_key  # pinned out of band
        self.origin = origin

    # --- sealing (§3) -------------------------------------------------------------

    @staticmethod
    def seal(intake_public: bytes, files: dict[str, bytes], answers: dict[str, Any]) -> Sealed:
        attachments = [
            submission.seal_attachment(data, name=name, media_type="application/octet-stream")
            for name, data in files.items()
        ]
        manifest = {
            "v": 1,
            "form": {"id": "vector-form", "version": 1, "sha256": "00" * 32},
            "lang": "en",
            "answers": answers,
            "attachments": [a.descriptor for a in attachments],
            "consent": {"share_with": [], "contact": False},
        }
        sealed = submission.seal_submission(intake_public, manifest)
        request = sealed.request(attachments=[a.blob for a in attachments])
        return Sealed(
            request=request,
            blobs={a.blob: a.ciphertext for a in attachments},
            header=sealed.header,
            body=sealed.body,
        )

    # --- uploads (§6) -------------------------------------------------------------

    def upload(self, data: bytes, *, piece: int = 1 << 16) -> str:
        blob_id = hashlib.sha256(data).hexdigest()
        metadata = "sha256 " + base64.b64encode(blob_id.encode()).decode()
        work = self.proof_of_work(length=len(data))
        if work is not None:
            proof = f"{work['challenge']}:{work['nonce']}"
            metadata += ",pow " + base64.b64encode(proof.encode()).decode()
        created = self.http.post(
            "/api/v1/uploads/",
            headers={**TUS, "Upload-Length": str(len(data)), "Upload-Metadata": metadata},
        )
        assert created.status_code == 201, created.text
        location = created.headers["location"]
        offset = 0
        while offset < len(data):
            answer = self.http.patch(
                location,
                content=data[offset : offset + piece],
                headers={
                    **TUS,
                    "Upload-Offset": str(offset),
                    "Content-Type": "application/offset+octet-stream",
                },
            )
            assert answer.status_code == 204, answer.text
            offset = int(answer.headers["upload-offset"])
        return blob_id

    # --- proof of work (§8) ---------------------------------------------------------

    def proof_of_work(self, *, length: int | None = None) -> dict[str, str] | None:
        """A solved challenge: for a submission, or for an upload of ``length`` bytes."""
        params = {} if length is None else {"length": length}
        challenge = self.http.get("/api/v1/pow", params=params).json()
        if challenge["bits"] == 0:
            return None
        raw = b64u_decode(challenge["challenge"])
        counter = 0
        while True:
            nonce = counter.to_bytes(8, "big")
            if leading_zero_bits(hashlib.sha256(raw + nonce).digest()) >= challenge["bits"]:
                return {"challenge": challenge["challenge"], "nonce": b64u_encode(nonce)}
            counter += 1

    # --- submitting and verifying (§3, §10) -----------------------------------------

    def submit(self, sealed: Sealed) -> dict[str, Any]:
        for data in sealed.blobs.values():
            self.upload(data)
        request = dict(sealed.request)
        work = self.proof_of_work()
        if work is not None:
            request["pow"] = work
        answer = self.http.post("/api/v1/submissions", json=request)
        assert answer.status_code == 201, answer.text
        receipt: dict[str, Any] = answer.json()
        self.verify(receipt, sealed)
        return receipt

    def verify(self, receipt: dict[str, Any], sealed: Sealed | None = None) -> None:
        """§10: id = H(0x00 || entry); the entry names our ciphertexts; the proof
        leads to the checkpoint's root; the checkpoint is signed by the pinned key."""
        entry = b64u_decode(receipt["entry"])
        leaf = hashlib.sha256(b"\x00" + entry).digest()
        assert leaf.hex() == receipt["id"]
        if sealed is not None:
            named = json.loads(entry)
            assert named["header"] == hashlib.sha256(sealed.header).hexdigest()
            assert named["body"] == hashlib.sha256(sealed.body).hexdigest()
            assert named["attachments"] == sorted(sealed.blobs)
        signed = checkpoint.verify(receipt["checkpoint"], self.log_key, origin=self.origin)
        inclusion = receipt["inclusion"]
        assert inclusion["index"] == receipt["index"]
        assert inclusion["size"] == signed.size > receipt["index"]
        merkle.verify_inclusion(
            receipt["index"],
            signed.size,
            leaf,
            [bytes.fromhex(node) for node in inclusion["path"]],
            signed.root,
        )
        # The same verdict from the project's one receipt check.
        receipts.verify_receipt(
            receipt, self.log_key, origin=self.origin, request=sealed.request if sealed else None
        )

    def check_consistency(self, old_note: str, new_note: str) -> None:
        """The log grew from ``old_note`` to ``new_note`` without rewriting (§9)."""
        old = checkpoint.verify(old_note, self.log_key, origin=self.origin)
        new = checkpoint.verify(new_note, self.log_key, origin=self.origin)
        proof = self.http.get(
            "/api/v1/log/proof/consistency", params={"from": old.size, "to": new.size}
        ).json()
        merkle.verify_consistency(
            old.size, new.size, old.root, new.root, [bytes.fromhex(p) for p in proof["path"]]
        )

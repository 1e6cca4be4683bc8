"""The shared client against a real ``testimony serve`` (proof of work at 8
bits): what the fake server of these tests assumes is what the server does."""

from __future__ import annotations

import hashlib
import os

import httpx
import pytest

from testimony.client import tus
from testimony.client.errors import ServerRefused
from testimony.client.http import Proof, ServerClient
from testimony.crypto import hpke
from tests.live_server import LiveServer
from tests.service.courier.support import INTAKE_SEED


@pytest.mark.slow
def test_the_client_speaks_to_the_real_server(live: LiveServer) -> None:
    data = os.urandom(300_000)
    blob = hashlib.sha256(data).hexdigest()

    def read(offset: int, length: int) -> list[bytes]:
        return [data[offset : offset + length]]

    with ServerClient(live.url) as client:
        assert client.log_key(expected=live.log_key()) == live.log_key()
        assert client.intake_key() == hpke.public_key(INTAKE_SEED)
        challenge = client.pow_challenge(length=len(data))
        assert challenge.bits == 8 and challenge.solve() is not None

        # Created with a `pow` metadata member (§6 v1.1), which today's server ignores.
        url = tus.create(client, blob, len(data))
        tus.send(client, url, len(data), read, offset=0, patch_bytes=100_000)
        state = tus.head(client, url)
        assert state is not None and state.offset == state.length == len(data)

        # A second upload cut after one PATCH resumes from the server's offset.
        other = os.urandom(200_000)
        other_blob = hashlib.sha256(other).hexdigest()
        second = tus.create(client, other_blob, len(other))
        tus.send(client, second, 50_000, lambda o, n: [other[o : o + n]], patch_bytes=50_000)
        offsets: list[int] = []
        done = tus.upload(
            client,
            other_blob,
            len(other),
            lambda o, n: [other[o : o + n]],
            resume=second,
            progress=lambda _url, offset: offsets.append(offset),
        )
        assert done.resumed and offsets == [50_000, len(other)]

        with pytest.raises(ServerRefused) as refused:
            tus.upload(client, "00" * 32, len(data), read)
        assert (refused.value.status, refused.value.problem) == (422, "upload-hash-mismatch")


class _Recording(httpx.HTTPTransport):
    """The real network, noting each creation's status."""

    def __init__(self) -> None:
        super().__init__()
        self.creations: list[int] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = super().handle_request(request)
        if request.method == "POST":
            self.creations.append(answer.status_code)
        return answer


class _SpentFirst(ServerClient):
    """Hands out first a proof the server has already accepted once."""

    def __init__(self, url: str, spent: Proof, transport: httpx.BaseTransport) -> None:
        super().__init__(url, transport=transport)
        self.spent: Proof | None = spent

    def proof_of_work(self, length: int | None = None) -> Proof | None:
        proof, self.spent = self.spent, None
        return proof if proof is not None else super().proof_of_work(length)


def _create(client: ServerClient, blob: str, length: int, proof: Proof | None) -> int:
    headers = {
        **tus.TUS,
        "Upload-Length": str(length),
        "Upload-Metadata": tus.metadata(blob, proof),
    }
    return client.request(
        "POST", tus.UPLOADS, what="creating", expect=None, headers=headers
    ).status_code


@pytest.mark.slow
def test_a_creation_refused_for_a_spent_proof_is_retried_with_a_fresh_one(live: LiveServer) -> None:
    data = os.urandom(10_000)
    blob = hashlib.sha256(data).hexdigest()
    with ServerClient(live.url) as plain:
        unpaid = _create(plain, blob, len(data), None)
        proof = plain.proof_of_work(len(data))
        assert proof is not None
        assert _create(plain, blob, len(data), proof) == 201  # spends it
    recording = _Recording()
    with _SpentFirst(live.url, proof, recording) as client:
        done = tus.upload(client, blob, len(data), lambda o, n: [data[o : o + n]])
    assert done.url.startswith(live.url + tus.UPLOADS)
    if (
        unpaid == 403
    ):  # the server asks for work on creation (§6 v1.1): pow-reused, then a fresh one
        assert recording.creations == [403, 201]
    else:  # a server before v1.1 ignores the `pow` member
        assert recording.creations == [201]

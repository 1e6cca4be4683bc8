"""The reviewer's client of the reviewers' API (docs/reviewers-api.md), against a
real ``testimony serve``: sessions opened and renewed, entries sent and their
receipts verified, refusals carried with their problem code, ciphertext and
blobs fetched and checked.

The helpers here (a live organisation's server, workstations, submissions)
serve the workstation's other end-to-end tests too (test_org.py, test_sync.py).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from testimony.client import tus
from testimony.client.errors import ServerRefused
from testimony.client.http import ServerClient
from testimony.crypto import codes, hpke, keyfile, note, signing, submission
from testimony.crypto.encoding import b64u_decode
from testimony.crypto.entries import AnnotationEntry, InviteEntry, OrgEntry, Policy
from testimony.crypto.errors import CheckpointError
from testimony.crypto.followup import followup_manifest, followup_request, sign_followup
from testimony.crypto.keyring import Identity, group_key, seal_payload
from testimony.crypto.receipt import WitnessKeys
from testimony.service.cli import app
from testimony.service.server import init_data_dir
from testimony.service.settings import Settings
from testimony.service.testing import LiveServer, start_server
from testimony.workstation import home as homes
from testimony.workstation.cache import Cache
from testimony.workstation.session import SESSION_LIFETIME, ReviewerClient, Session

PASSPHRASE = "a passphrase for the workstation tests"
ORIGIN = "workstation.test/log"
ONE_LINE_ERROR = re.compile(r"testimony: [^\n]+ \([a-z0-9-]+\)\n")


# --- helpers shared by the workstation's end-to-end tests -----------------------------


@dataclass
class Organisation:
    """A live server, initialised, and what its operator hands the founder."""

    server: LiveServer
    setup_token: str
    intake_seed: bytes
    intake_seed_file: Path
    data_dir: Path

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def log_key(self) -> str:
        return self.server.log_key()

    @property
    def intake_public(self) -> bytes:
        return hpke.public_key(self.intake_seed)


def start_organisation(
    folder: Path, *, data_dir: Path | None = None, seed: bytes | None = None
) -> Organisation:
    """``testimony init`` (through the wiring) and ``testimony serve`` on ``folder``
    (or ``serve`` alone on ``data_dir``, initialised with intake ``seed``)."""
    folder.mkdir(parents=True, exist_ok=True)
    seed = seed or os.urandom(32)
    seed_file = folder / "intake.seed"
    seed_file.write_bytes(seed)
    token = ""
    if data_dir is None:
        data_dir = folder / "data"
        result = init_data_dir(Settings(data_dir=data_dir), hpke.public_key(seed), origin=ORIGIN)
        token = result.setup_token
    server = start_server(data_dir, folder / "server-output.txt", pow_bits=0)
    return Organisation(server, token, seed, seed_file, data_dir)


def stop(organisation: Organisation) -> None:
    output = organisation.server.stop()
    assert "Traceback" not in output, output[-3000:]


@pytest.fixture(scope="module")
def organisation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Organisation]:
    """One server for a test module (starting one takes seconds)."""
    made = start_organisation(tmp_path_factory.mktemp("organisation"))
    try:
        yield made
    finally:
        stop(made)


def new_workstation(folder: Path) -> tuple[Path, Identity]:
    """A reviewer identity (cheap Argon2id) in ``folder``, unlocked."""
    homes.create_identity(folder, PASSPHRASE, cost=keyfile.FAST_FOR_TESTS)
    return folder, homes.unlock_identity(folder, PASSPHRASE)


def run(*args: Any) -> Any:
    """``testimony ARGS`` in this process, the passphrase in the environment."""
    return CliRunner().invoke(app, [str(a) for a in args], env={"TESTIMONY_PASSPHRASE": PASSPHRASE})


def ok(result: Any) -> str:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return str(result.stdout)


def one_line_error(result: Any, code: str) -> str:
    assert result.exit_code == 1, result.stdout
    assert ONE_LINE_ERROR.fullmatch(result.stderr), result.stderr
    assert result.stderr.rstrip().endswith(f"({code})"), result.stderr
    return str(result.stderr)


def upload(url: str, data: bytes) -> str:
    """Upload ``data`` as a blob (tus, no proof of work at 0 bits); its id."""
    blob = hashlib.sha256(data).hexdigest()
    with ServerClient(url) as client:
        tus.upload(client, blob, len(data), lambda offset, n: [data[offset : offset + n]])
    return blob


def witness_keys() -> WitnessKeys:
    """Fresh witness keys (as a receipt code derives them, without the Argon2id)."""
    key = Ed25519PrivateKey.generate()
    box = os.urandom(32)
    return WitnessKeys(key, box, signing.public_key_bytes(key), hpke.public_key(box))


@dataclass
class Submitted:
    receipt: dict[str, Any]
    manifest: dict[str, Any]
    files: dict[str, bytes]
    """Blob id -> the attachment's ciphertext."""
    witness: WitnessKeys | None

    @property
    def id(self) -> str:
        return str(self.receipt["id"])


def submit(
    organisation: Organisation,
    text: str,
    *,
    files: Sequence[bytes] = (),
    witness: WitnessKeys | None = None,
    body_blob: bool = False,
) -> Submitted:
    """A testimony sealed to the organisation's intake key, as a witness sends it."""
    sealed_files = [
        submission.seal_attachment(data, name=f"file-{n}.jpg", media_type="image/jpeg")
        for n, data in enumerate(files)
    ]
    manifest = {
        "v": 1,
        "form": {"id": "f", "version": 1, "sha256": "00" * 32},
        "lang": "en",
        "answers": {"what": text},
        "attachments": [f.descriptor for f in sealed_files],
        "consent": {"share_with": [], "contact": False},
    }
    sealed = submission.seal_submission(organisation.intake_public, manifest)
    for f in sealed_files:
        upload(organisation.url, f.ciphertext)
    request = sealed.request(attachments=[f.blob for f in sealed_files], witness=witness)
    if body_blob:
        del request["body"]
        request["body_blob"] = upload(organisation.url, sealed.body)
    with ServerClient(organisation.url) as client:
        receipt = client.post_json("/api/v1/submissions", request, what="submitting")
    return Submitted(receipt, manifest, {f.blob: f.ciphertext for f in sealed_files}, witness)


def follow_up(organisation: Organisation, parent: Submitted, text: str) -> dict[str, Any]:
    """A follow-up to ``parent`` by its witness; the receipt."""
    assert parent.witness is not None
    sealed = submission.seal_submission(organisation.intake_public, followup_manifest(text))
    request = sign_followup(
        parent.witness, followup_request(sealed, parent=parent.id, attachments=[])
    )
    with ServerClient(organisation.url) as client:
        answer: dict[str, Any] = client.post_json("/api/v1/followups", request, what="follow-up")
    return answer


def found(organisation: Organisation, folder: Path, *, quorum: int = 2) -> tuple[Path, Identity]:
    """The founding admin's workstation, the organisation founded (``org init``)."""
    home, identity = new_workstation(folder)
    ok(
        run(
            "org", "init", "--workstation", home, "--server", organisation.url,
            "--setup-token", organisation.setup_token,
            "--intake-seed", organisation.intake_seed_file,
            "--quorum", quorum, "--log-key", organisation.log_key,
        )
    )  # fmt: skip
    return home, identity


def last_line(output: str) -> str:
    return output.rstrip("\n").splitlines()[-1]


def join(
    organisation: Organisation,
    admin: Path,
    folder: Path,
    *,
    role: str = "reviewer",
    approve: bool = True,
) -> tuple[Path, Identity]:
    """A reviewer invited by ``admin``, enrolled, and (with ``approve``) approved by it."""
    code = last_line(ok(run("reviewer", "invite", "--workstation", admin)))
    home, identity = new_workstation(folder)
    out = ok(
        run(
            "reviewer", "enrol", "--workstation", home, "--server", organisation.url,
            "--invite", code, "--role", role, "--log-key", organisation.log_key,
        )
    )  # fmt: skip
    assert last_line(out.split("Once approved")[0]) == homes.fingerprint(identity.id)
    if approve:
        ok(run("reviewer", "approve", identity.id, "--workstation", admin))
    return home, identity


def cache_of(home: Path) -> Cache:
    return Cache(home, homes.unlock_identity(home, PASSPHRASE))


# --- the client itself ------------------------------------------------------------------


@pytest.fixture(scope="module")
def founder(
    organisation: Organisation, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Identity]:
    return found(organisation, tmp_path_factory.mktemp("founder"))


class _Counting(httpx.HTTPTransport):
    """The real network, counting the sessions opened."""

    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        return super().handle_request(request)


def test_a_session_is_opened_when_needed_and_renewed_before_it_expires(
    organisation: Organisation, founder: tuple[Path, Identity]
) -> None:
    now = [1_000_000.0]
    transport = _Counting()
    with ReviewerClient(
        organisation.url,
        founder[1],
        log_key=organisation.log_key,
        transport=transport,
        clock=lambda: now[0],
    ) as client:
        client.checkpoint()
        assert client.logins == 0  # the public log needs no session
        assert client.entries_with_index(1) == {"indexes": [], "next": None}
        assert client.logins == 1 and client.role == "admin"
        client.entries_with_index(2)
        assert client.logins == 1
        now[0] += SESSION_LIFETIME - 30  # within the renewal margin of the expiry
        client.entries_with_index(3)
        assert client.logins == 2
    assert transport.paths.count("/api/v1/session") == 2


def test_a_token_the_server_refuses_is_renewed_once(
    organisation: Organisation, founder: tuple[Path, Identity]
) -> None:
    with ReviewerClient(organisation.url, founder[1], log_key=organisation.log_key) as client:
        client.login()
        assert client._session is not None
        client._session = Session("AAAA" + client._session.token[4:], "admin", float("inf"))
        assert client.entries_with_index(0)["indexes"] == []
        assert client.logins == 2


def test_a_reviewer_without_standing_gets_no_session(
    organisation: Organisation, tmp_path: Path
) -> None:
    _home, stranger = new_workstation(tmp_path)
    with (
        ReviewerClient(organisation.url, stranger, log_key=organisation.log_key) as client,
        pytest.raises(ServerRefused) as refused,
    ):
        client.entries_with_index(0)
    assert (refused.value.status, refused.value.problem) == (403, "no-standing")


def test_entries_are_answered_with_receipts_that_are_verified(
    organisation: Organisation, founder: tuple[Path, Identity]
) -> None:
    identity = founder[1]
    key = signing.private_key_from_seed(identity.sign_seed)
    invite = InviteEntry.create(key, nonce=os.urandom(16), code=codes.code_hash(codes.new_code()))
    with ReviewerClient(organisation.url, identity, log_key=organisation.log_key) as client:
        receipt = client.post_entry(invite)
        assert b64u_decode(receipt["entry"]).startswith(b"{")
        assert client.post_entry(invite) == receipt  # a repeat: the first receipt
        second = InviteEntry.create(
            key, nonce=os.urandom(16), code=codes.code_hash(codes.new_code())
        )
    other = note.verifier_key(ORIGIN, signing.public_key_bytes(Ed25519PrivateKey.generate()))
    with (
        ReviewerClient(organisation.url, identity, log_key=other) as client,
        pytest.raises(CheckpointError),
    ):  # signed by a key this client did not pin
        client.post_entry(second)


def test_the_server_s_refusals_carry_its_problem_code(
    organisation: Organisation, founder: tuple[Path, Identity], tmp_path: Path
) -> None:
    _home, someone = new_workstation(tmp_path)
    key = signing.private_key_from_seed(someone.sign_seed)
    org = OrgEntry.create(
        key,
        nonce=os.urandom(16),
        sign_key=someone.sign_public,
        box_key=someone.box_public,
        setup=codes.code_hash(codes.new_code()),
        policy=Policy.create(),
    )
    with (
        ReviewerClient(organisation.url, someone, log_key=organisation.log_key) as client,
        pytest.raises(ServerRefused) as refused,
    ):
        client.post_entry(org)
    assert refused.value.status == 403
    assert refused.value.problem in ("setup-token-invalid", "org-exists")


def test_ciphertext_and_blobs_are_fetched_checked_and_logged(
    organisation: Organisation, founder: tuple[Path, Identity]
) -> None:
    photo = os.urandom(5000)
    sent = submit(organisation, "a fire in the market", files=[photo])
    (blob_id,) = sent.files
    with ReviewerClient(organisation.url, founder[1], log_key=organisation.log_key) as client:
        answer = client.ciphertext([sent.id])
        (item,) = answer["items"]
        opened = submission.open_submission(organisation.intake_seed, item["header"], item["body"])
        assert opened.manifest == sent.manifest
        assert blob_id in answer["blobs"]
        data = client.blob(blob_id, subject=sent.id)
        assert data == sent.files[blob_id]
        assert submission.open_attachment(opened.manifest["attachments"][0], data) == photo
        with pytest.raises(ServerRefused) as refused:
            client.blob("ab" * 32, subject=sent.id)
        assert refused.value.status in (403, 404)


class _CutMidway(httpx.HTTPTransport):
    """The real network; the first blob download breaks after ``keep`` bytes."""

    def __init__(self, keep: int) -> None:
        super().__init__()
        self.keep = keep
        self.ranges: list[str | None] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = super().handle_request(request)
        if not request.url.path.startswith("/api/v1/blobs/"):
            return answer
        self.ranges.append(request.headers.get("range"))
        if len(self.ranges) > 1:
            return answer
        real, keep = answer.stream, self.keep

        class Broken(httpx.SyncByteStream):
            def __iter__(self) -> Iterator[bytes]:
                sent = 0
                for chunk in real:  # type: ignore[union-attr]
                    yield chunk[: keep - sent]
                    sent += len(chunk[: keep - sent])
                    if sent >= keep:
                        raise httpx.ReadError("cut", request=request)

            def close(self) -> None:
                real.close()  # type: ignore[union-attr]

        return httpx.Response(answer.status_code, headers=answer.headers, stream=Broken())


def test_a_broken_blob_download_is_resumed_where_it_broke(
    organisation: Organisation, founder: tuple[Path, Identity]
) -> None:
    sent = submit(organisation, "a long video", files=[os.urandom(300_000)])
    (blob_id,) = sent.files
    cut = _CutMidway(100_000)
    with ReviewerClient(
        organisation.url, founder[1], log_key=organisation.log_key, transport=cut
    ) as client:
        client.ciphertext([sent.id])
        assert client.blob(blob_id, subject=sent.id) == sent.files[blob_id]
    assert cut.ranges == [None, "bytes=100000-"]


def test_annotations_are_found_by_their_blind_index(
    organisation: Organisation, founder: tuple[Path, Identity]
) -> None:
    identity = founder[1]
    nonce = os.urandom(16)
    sealed = seal_payload(group_key(os.urandom(32), nonce), {"v": 1, "kind": "tag", "tag": "x"})
    annotation = AnnotationEntry.create(
        signing.private_key_from_seed(identity.sign_seed),
        nonce=nonce,
        epoch=0,
        index=(7, 19),
        sealed=b64u_decode(sealed),
    )
    with ReviewerClient(organisation.url, identity, log_key=organisation.log_key) as client:
        receipt = client.post_entry(annotation)
        found_index = client.entries_with_index(19)
        assert receipt["index"] in found_index["indexes"]
        later = client.entries_with_index(19, after=receipt["index"])
        assert receipt["index"] not in later["indexes"]

"""``testimony sync`` against a real server: the log verified page by page and
taken up again after a cut; a fork kept as evidence and nothing else changed;
testimonies, follow-ups, attachments and annotations opened into the cache;
what cannot be read yet read once the keyring has grown
(docs/workstation.md "Sync")."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
import pytest

from testimony.client.errors import ConnectionFailed
from testimony.crypto import checkpoint, note, signing
from testimony.crypto.encoding import b64u_decode
from testimony.crypto.entries import AnnotationEntry
from testimony.crypto.keyring import Identity, group_key, seal_payload
from testimony.workstation import org, sync
from testimony.workstation.cache import Cache
from testimony.workstation.home import WorkstationError
from testimony.workstation.session import ReviewerClient
from tests.workstation.test_session import (
    Organisation,
    cache_of,
    follow_up,
    found,
    join,
    new_workstation,
    ok,
    one_line_error,
    organisation,
    run,
    start_organisation,
    stop,
    submit,
    witness_keys,
)

__all__ = ["organisation"]  # the module's server (a fixture)


@pytest.fixture(scope="module")
def founder(
    organisation: Organisation, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Identity]:
    return found(organisation, tmp_path_factory.mktemp("founder"), quorum=1)


class _Cut(httpx.HTTPTransport):
    """The real network, cut (a refused connection) from the ``after``-th request
    to a path starting with ``prefix``; counting requests by path."""

    def __init__(self, prefix: str = "", after: int | None = None) -> None:
        super().__init__()
        self.prefix, self.after = prefix, after
        self.paths: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.paths.append(path)
        cut = [p for p in self.paths if p.startswith(self.prefix)]
        if self.after is not None and path.startswith(self.prefix) and len(cut) > self.after:
            raise httpx.ConnectError("cut", request=request)
        return super().handle_request(request)

    def count(self, prefix: str) -> int:
        return sum(p.startswith(prefix) for p in self.paths)


def _bound(organisation: Organisation, folder: Path) -> tuple[Cache, Identity]:
    home, identity = new_workstation(folder)
    cache = Cache(home, identity)
    org.bind(cache, organisation.url, organisation.log_key)
    return cache, identity


def _client(organisation: Organisation, identity: Identity, transport: _Cut) -> ReviewerClient:
    return ReviewerClient(
        organisation.url, identity, log_key=organisation.log_key, transport=transport
    )


def test_the_log_is_fetched_in_pages_verified_and_taken_up_after_a_cut(
    organisation: Organisation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(4):
        submit(organisation, f"testimony {n}")
    monkeypatch.setattr(sync, "MAX_LOG_PAGE", 2)
    cache, identity = _bound(organisation, tmp_path / "ws")
    with cache:
        cut = _Cut("/api/v1/log/entries", after=1)
        with _client(organisation, identity, cut) as client, pytest.raises(ConnectionFailed):
            sync.sync_log(cache, client)
        assert cache.log_size() == 0 and cache.latest_checkpoint() is None  # nothing unverified
        assert cache.staged_end() == 2  # the first page is kept aside

        again = _Cut()
        with _client(organisation, identity, again) as client:
            report = sync.sync_log(cache, client)
        size = report.size
        assert size >= 5 and report.new == size
        assert again.count("/api/v1/log/entries") == (size - 2 + 1) // 2  # from the cut on
        types = [kind for _i, _id, kind, _data in cache.entries()]
        assert types[0] == "intake-key" and types.count("submission") >= 4
        assert checkpoint.parse(cache.latest_checkpoint() or "").size == size
        assert cache.staged_end() is None

        submit(organisation, "one more")
        with _client(organisation, identity, _Cut()) as client:
            assert sync.sync_log(cache, client).new >= 1  # consistent with the last one
            assert sync.sync_log(cache, client).new == 0


def _log_signer(organisation: Organisation) -> note.SignerKey:
    return note.parse_signer_key((organisation.data_dir / "log-key").read_text().strip())


def _forged(organisation: Organisation, size: int) -> str:
    """A checkpoint of ``size`` with another root, signed with the log's own key:
    what a server showing two histories would have signed."""
    signer = _log_signer(organisation)
    served = checkpoint.parse(httpx.get(organisation.url + "/api/v1/log/checkpoint").text)
    return checkpoint.sign(
        served.origin, size, os.urandom(32), signer.private_key, signer.name, served.time
    )


@pytest.mark.parametrize("behind", [0, 1], ids=["same-size", "older-size"])
def test_a_fork_is_kept_as_evidence_and_changes_nothing_else(
    organisation: Organisation, tmp_path: Path, behind: int
) -> None:
    cache, identity = _bound(organisation, tmp_path / "ws")
    with cache:
        with _client(organisation, identity, _Cut()) as client:
            size = sync.sync_log(cache, client).size
        ours = _forged(organisation, size - behind)
        with cache.transaction():
            cache.add_checkpoint(size - behind, ours)
            if behind:
                cache.execute("DELETE FROM checkpoints WHERE size = ?", (size,))
        entries = list(cache.entries())
        with _client(organisation, identity, _Cut()) as client, pytest.raises(sync.LogForked):
            sync.sync_log(cache, client)
        ((kept, theirs, reason),) = cache.forks()
        assert kept == ours and checkpoint.parse(theirs).size >= size and reason
        assert list(cache.entries()) == entries and cache.latest_checkpoint() == ours
    refused = one_line_error(run("sync", "--workstation", tmp_path / "ws"), "log-fork")
    assert "LOG FORK" in refused
    with cache_of(tmp_path / "ws") as cache:
        assert len(cache.forks()) == 1  # the same evidence is kept once


def test_testimonies_follow_ups_attachments_and_annotations_are_opened(
    organisation: Organisation, founder: tuple[Path, Identity], tmp_path: Path
) -> None:
    home, identity = founder
    photos = [os.urandom(3000), os.urandom(4000)]
    witness = witness_keys()
    first = submit(organisation, "the market burned", files=photos, witness=witness)
    long = submit(organisation, "x" * (1 << 20), body_blob=True)  # a body not sent inline
    followup = follow_up(organisation, first, "and the school")
    with cache_of(home) as cache:
        secret = cache.groups()[0]
    nonce = os.urandom(16)
    payload = {"v": 1, "kind": "tag", "testimony": first.id, "tag": "arson"}
    annotation = AnnotationEntry.create(
        signing.private_key_from_seed(identity.sign_seed),
        nonce=nonce,
        epoch=0,
        index=(),
        sealed=b64u_decode(seal_payload(group_key(secret, nonce), payload)),
    )
    with ReviewerClient(organisation.url, identity, log_key=organisation.log_key) as client:
        noted = client.post_entry(annotation)

    # Cut while the attachments are fetched: the next sync fetches the rest.
    cut = _Cut("/api/v1/blobs/", after=1)
    with (
        cache_of(home) as cache,
        _client(organisation, identity, cut) as client,
        pytest.raises(ConnectionFailed),
    ):
        sync.sync(cache, client, identity)
    with cache_of(home) as cache:  # what was read before the cut is kept
        assert cache.record("submission", first.id)["statement"] == first.manifest
        assert len(cache.wanted_blobs()) >= 1
    synced = ok(run("sync", "--workstation", home))
    assert "standing: admin" in synced

    with cache_of(home) as cache:
        record = cache.record("submission", first.id)
        assert record["statement"] == first.manifest
        assert record["witness"] == witness.witness_b64u and bytes.fromhex(
            record["witness_box"]
        ) == b64u_decode(witness.witness_box_b64u)
        assert record["followups"] == [followup["id"]]
        assert [a["descriptor"] for a in record["attachments"]] == first.manifest["attachments"]
        for attachment in record["attachments"]:
            assert cache.blob(attachment["blob"]) == first.files[attachment["blob"]]
        assert cache.wanted_blobs() == []
        assert cache.record("submission", long.id)["statement"] == long.manifest
        opened = cache.record("followup", followup["id"])
        assert opened["parent"] == first.id and opened["manifest"]["text"] == "and the school"
        got = cache.record("annotation", noted["id"])
        assert got == {
            "index": noted["index"],
            "actor": identity.id,
            "received": got["received"],
            "epoch": 0,
            "payload": payload,
        }
        assert got["received"].endswith(":00Z")
        assert all("unreadable" not in value for _id, value in cache.records("submission"))

    # Nothing new: no ciphertext is asked for again (each request logs an access entry).
    quiet = _Cut()
    with cache_of(home) as cache, _client(organisation, identity, quiet) as client:
        report = sync.sync(cache, client, identity)
    assert report.submissions == 0 and quiet.count("/api/v1/ciphertext") == 0
    assert quiet.count("/api/v1/session") == 0


def test_what_cannot_be_read_is_read_once_the_keyring_has_grown(
    organisation: Organisation, founder: tuple[Path, Identity], tmp_path: Path
) -> None:
    admin, _ = founder
    sent = submit(organisation, "read me later")
    home, reviewer = join(organisation, admin, tmp_path / "reviewer")
    before = _Cut()
    with cache_of(home) as cache, _client(organisation, reviewer, before) as client:
        report = sync.sync(cache, client, reviewer)
        assert report.role == "reviewer" and report.unreadable.get("no-intake-key", 0) >= 1
        assert cache.record("submission", sent.id)["unreadable"] == "no-intake-key"
    assert before.count("/api/v1/ciphertext") == 0  # no access is logged for nothing

    ok(run("keys", "grant", reviewer.id, "--workstation", admin))
    synced = ok(run("sync", "--workstation", home))
    assert "1 grants" in synced
    with cache_of(home) as cache:
        assert cache.record("submission", sent.id)["statement"]["answers"] == {
            "what": "read me later"
        }
        assert not any("unreadable" in value for _id, value in cache.records("submission"))
        assert not any("unreadable" in value for _id, value in cache.records("annotation"))


@pytest.mark.slow
def test_two_servers_with_one_log_key_and_two_histories_are_a_fork(tmp_path: Path) -> None:
    """The same log key, two histories: a server that forked its log (or a
    stale copy of it, which is a rollback, not a fork)."""
    honest = start_organisation(tmp_path / "a")
    try:
        submit(honest, "first")
    finally:
        stop(honest)
    shutil.copytree(honest.data_dir, tmp_path / "copy-b")
    shutil.copytree(honest.data_dir, tmp_path / "copy-c")
    seed = honest.intake_seed
    a = start_organisation(tmp_path / "a", data_dir=honest.data_dir, seed=seed)
    b = start_organisation(tmp_path / "b", data_dir=tmp_path / "copy-b", seed=seed)
    c = start_organisation(tmp_path / "c", data_dir=tmp_path / "copy-c", seed=seed)
    try:
        submit(a, "the true second")
        submit(b, "another second")
        cache, identity = _bound(a, tmp_path / "ws")
        with cache:
            with _client(a, identity, _Cut()) as client:
                assert sync.sync_log(cache, client).size == 3
            entries = list(cache.entries())
            for other, code in ((c, "log-rollback"), (b, "log-fork")):
                with (
                    ReviewerClient(other.url, identity, log_key=a.log_key) as client,
                    pytest.raises(WorkstationError) as caught,
                ):
                    sync.sync_log(cache, client)
                assert caught.value.code == code
            assert list(cache.entries()) == entries
            assert len(cache.forks()) == 1
    finally:
        for server in (a, b, c):
            stop(server)

"""A reviewer's workstation filled as a sync would fill it, for the triage,
incident, search and attachment tests: a real SQLCipher cache; the log's
governance entries (entry 0, the ``org`` entry, enrolments) signed and
stored in ``entries``; submissions sealed with the real crypto and kept as the
sync keeps them (the record with the opened statement, the attachments'
ciphertexts in ``blobs``); annotations built with
``workstation.annotations.build_entry``, logged with ``received`` and opened
back into ``annotation`` records."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from testimony.crypto import canonical, hpke, keyring, merkle
from testimony.crypto.encoding import b64u_encode, sha256
from testimony.crypto.entries import AnnotationEntry, SignedEntry, parse_entry
from testimony.crypto.rfc3339 import format_time
from testimony.crypto.submission import build_submission_entry, seal_attachment, seal_submission
from testimony.forms import bundled_forms
from testimony.workstation.annotations import build_entry, open_entry
from testimony.workstation.cache import Cache

KORDAI = bundled_forms().latest("kordai-2020").definition
INTAKE_SEED = bytes(range(32))
INTAKE_PUBLIC = hpke.public_key(INTAKE_SEED)
START = datetime(2020, 2, 8, 0, tzinfo=UTC)

RUSSIAN: dict[str, Any] = {
    "lang": "ru",
    "answers": {
        "narrative": "Ночью 7 февраля подожгли дом соседей в Масанчи. Мы видели людей в масках.",
        "when": {"start": "2020-02-07T23:30", "end": "2020-02-08"},
        "where": {"id": "masanchi"},
        "what_happened": ["arson", "shooting", {"other": "угрозы по телефону"}],
        "perpetrators": ["unknown_persons"],
        "victims": "Семья из пяти человек осталась без дома.",
    },
    "consent": {"share_with": ["prosecutor", "un_treaty_body"], "contact": True},
}
ENGLISH: dict[str, Any] = {
    "lang": "en",
    "answers": {
        "narrative": "My uncle told me the police took men from Sortobe to the station.",
        "where": {"text": "the road out of Sortobe", "lat": 42.86, "lon": 75.21},
        "what_happened": ["arbitrary_detention"],
        "perpetrators": ["police"],
    },
    "consent": {"share_with": [], "contact": False},
}


def identity(n: int) -> keyring.Identity:
    return keyring.Identity(bytes([n]) * 32, bytes([n + 100]) * 32)


class Workstation:
    """One reviewer's cache, with the organisation's log as far as it goes.

    The founder (``me`` unless another identity is given as ``founder``) is
    the only admin; ``enrol`` adds reviewers."""

    def __init__(
        self, home: Path, me: keyring.Identity, *, founder: keyring.Identity | None = None
    ) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.home = home
        self.me = me
        self.founder = founder or me
        self.cache = Cache(home, me)
        self.group = sha256(b"group secret of epoch 0 " + me.sign_seed)
        self.cache.add_group(0, self.group)
        self.cache.add_intake_seed(hpke.key_id(INTAKE_PUBLIC), INTAKE_SEED)
        self.size = 0
        self.clock = START
        self._nonce = 0
        self.log(
            {
                "type": "intake-key",
                "key": b64u_encode(INTAKE_PUBLIC),
                "key_id": hpke.key_id(INTAKE_PUBLIC),
            }
        )
        self.log(
            {
                **self._keys(self.founder),
                "type": "org",
                "actor": self.founder.id,
                "setup": "0" * 64,
                "policy": {
                    "enrol": 1,
                    "revoke": 1,
                    "export": 1,
                    "shred": 1,
                    "rotate": 1,
                    "policy": 1,
                    "index_bits": dict(keyring.DEFAULT_INDEX_BITS),
                },
            },
            self.founder,
        )

    def close(self) -> None:
        self.cache.close()

    # --- the log ------------------------------------------------------------------------

    @staticmethod
    def _keys(who: keyring.Identity) -> dict[str, str]:
        return {"sign_key": b64u_encode(who.sign_public), "box_key": b64u_encode(who.box_public)}

    def received(self) -> str:
        self.clock += timedelta(hours=1)
        return format_time(self.clock)

    def add(self, data: bytes) -> tuple[int, str]:
        """Append logged entry bytes to the cached log."""
        entry_id = merkle.leaf_hash(data).hex()
        index = self.size
        self.cache.add_entry(index, entry_id, str(parse_entry(data).TYPE), data)
        self.size += 1
        return index, entry_id

    def log(self, body: dict[str, Any], who: keyring.Identity | None = None) -> str:
        full: dict[str, Any] = {"v": 1, **body}
        if who is not None:
            self._nonce += 1
            full = who.sign_entry(
                {**full, "actor": who.id, "nonce": b64u_encode(self._nonce.to_bytes(16, "big"))}
            )
        return self.add(canonical.dumps({**full, "received": self.received()}))[1]

    def enrol(self, who: keyring.Identity, role: str = "reviewer") -> None:
        code = sha256(f"invite-{who.id}".encode()).hex()
        self.log({"type": "invite", "code": code}, self.founder)
        proposal = self.log(
            {"type": "reviewer", **self._keys(who), "role": role, "invite": code}, who
        )
        self.log({"type": "approval", "subject": proposal}, self.founder)

    # --- what the sync keeps ------------------------------------------------------------

    def submission(
        self,
        statement: dict[str, Any] | None = None,
        *,
        witness: bool = True,
        files: list[tuple[bytes, str, str]] = (),  # type: ignore[assignment]
        witness_key: bytes | None = None,
    ) -> str:
        """A sealed submission, logged, opened and cached; returns its id."""
        base = statement or RUSSIAN
        sealed_files = [seal_attachment(data, name=name, media_type=t) for data, name, t in files]
        answers = dict(base["answers"])
        if sealed_files:
            answers["files"] = [f.blob for f in sealed_files]
        manifest = {
            "v": 1,
            "form": {"id": KORDAI.id, "version": KORDAI.version, "sha256": KORDAI.sha256},
            "lang": base["lang"],
            "answers": answers,
            "attachments": [f.descriptor for f in sealed_files],
            "consent": base["consent"],
        }
        sealed = seal_submission(INTAKE_PUBLIC, manifest)
        request = sealed.request(attachments=[f.blob for f in sealed_files])
        key = witness_key if witness_key is not None else os.urandom(32)
        if witness:
            request["witness"] = b64u_encode(key)
            request["witness_box"] = b64u_encode(hpke.public_key(key))
        received = self.received()
        entry = build_submission_entry(request, self.clock)
        index, entry_id = self.add(entry.to_json())
        for f in sealed_files:
            self.cache.want_blob(f.blob, entry_id)
            self.cache.put_blob(f.blob, f.ciphertext)
        self.cache.put_record(
            "submission",
            entry_id,
            {
                "index": index,
                "received": received,
                "intake_key": entry.intake_key,
                "witness": request.get("witness"),
                "witness_box": entry.witness_box,
                "statement": manifest,
                "attachments": [{"blob": f.blob, "descriptor": f.descriptor} for f in sealed_files],
                "followups": [],
            },
        )
        return entry_id

    def followup(self, parent: str, text: str) -> str:
        """A follow-up of ``parent``, as the sync records it (its entry aside)."""
        received = self.received()
        followup_id = sha256(f"followup {parent} {text}".encode()).hex()
        index = self.size
        self.size += 1  # its entry is not needed by the triage; the index is taken
        self.cache.put_record(
            "followup",
            followup_id,
            {
                "index": index,
                "parent": parent,
                "received": received,
                "manifest": {"v": 1, "text": text, "attachments": []},
                "attachments": [],
            },
        )
        return followup_id

    def annotate(
        self, payload: dict[str, Any], who: keyring.Identity | None = None, *, record: bool = True
    ) -> str:
        """An annotation by ``who`` (default: me), logged; and, as a sync would, its record."""
        author = who or self.me
        entry = build_entry(
            author,
            epoch=0,
            group_secret=self.group,
            index_bits=keyring.DEFAULT_INDEX_BITS,
            payload=payload,
        )
        logged = entry.with_received(self.clock + timedelta(hours=1))
        self.clock += timedelta(hours=1)
        index, entry_id = self.add(logged.to_json())
        if record:
            self.record_annotation(index, entry_id, logged)
        return entry_id

    def record_annotation(self, index: int, entry_id: str, logged: AnnotationEntry) -> None:
        assert logged.received is not None
        self.cache.put_record(
            "annotation",
            entry_id,
            {
                "index": index,
                "actor": logged.actor,
                "received": format_time(logged.received),
                "epoch": logged.epoch,
                "payload": open_entry(logged, {0: self.group}),
            },
        )

    def sync_annotations(self) -> int:
        """Records for every logged annotation that has none yet (a sync's step 4)."""
        count = 0
        for index, entry_id, _type, data in self.cache.entries(["annotation"]):
            if self.cache.record("annotation", entry_id) is None:
                entry = parse_entry(data)
                assert isinstance(entry, AnnotationEntry)
                self.record_annotation(index, entry_id, entry)
                count += 1
        return count


class FakeServer:
    """What ``org.bound_client`` gives the commands: ``post_entry`` logs the
    entry in the workstation's cached log, as the server would, and returns
    a receipt (its checkpoint and proof aside). Annotations are not recorded
    (the next ``sync_annotations`` does it)."""

    def __init__(self, workstation: Workstation) -> None:
        self.ws = workstation
        self.posted: list[tuple[SignedEntry, bytes | None]] = []

    def __enter__(self) -> FakeServer:
        return self

    def __exit__(self, *_exc: object) -> None:
        pass

    def post_entry(self, entry: SignedEntry, blob: bytes | None = None) -> dict[str, Any]:
        self.posted.append((entry, blob))
        self.ws.clock += timedelta(hours=1)
        data = entry.with_received(self.ws.clock).to_json()
        index, entry_id = self.ws.add(data)
        return {"id": entry_id, "index": index, "entry": b64u_encode(data)}


PASSPHRASE = "a passphrase for the triage tests"


def desk(tmp_path: Path, monkeypatch: Any) -> tuple[Workstation, FakeServer]:
    """A workstation directory with a real identity (cheap Argon2id) whose
    commands reach a :class:`FakeServer`; the passphrase in the environment."""
    from testimony.crypto import keyfile
    from testimony.workstation import home as homes
    from testimony.workstation import org

    home = tmp_path / "desk"
    homes.create_identity(home, PASSPHRASE, cost=keyfile.FAST_FOR_TESTS)
    workstation = Workstation(home, homes.unlock_identity(home, PASSPHRASE))
    server = FakeServer(workstation)
    monkeypatch.setattr(org, "bound_client", lambda cache, identity, **_: server)
    monkeypatch.setenv("TESTIMONY_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("LANG", "en_GB.UTF-8")
    return workstation, server


def command(workstation: Workstation, *args: str) -> Any:
    """``testimony ARGS --workstation DIR``; never a traceback."""
    from typer.testing import CliRunner

    from testimony.service.cli import app

    result = CliRunner().invoke(app, [*args, "--workstation", str(workstation.home)])
    assert "Traceback" not in result.output
    return result

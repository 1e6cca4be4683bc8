"""The reviewer's side of the reviewers' HTTP API (docs/reviewers-api.md), over
the shared client (``testimony.client.http.ServerClient``).

:class:`ReviewerClient` is one reviewer at one server:

- **the public log** (§9): :meth:`~ReviewerClient.checkpoint` (its signature
  verified with the pinned log key), :meth:`~ReviewerClient.consistency`,
  :meth:`~ReviewerClient.log_entries`;
- **a session** (§12.8): ``GET /api/v1/session/challenge``, then ``POST
  /api/v1/session`` with the challenge signed by the reviewer's key; the
  bearer token is renewed before it expires (at most 15 minutes) and once
  more when the server answers ``401 session-invalid``. Sessions are opened
  only when a route needs one;
- **entries** (§12.2): :meth:`~ReviewerClient.post_entry` sends a signed
  entry (an ``org`` or a candidate's ``reviewer`` entry without a session,
  every other with one) and returns the §10 receipt once it verifies with the
  pinned log key and names exactly the entry sent;
  :meth:`~ReviewerClient.entries_with_index` reads the blind index (§12.6);
- **ciphertext** (§12.7): :meth:`~ReviewerClient.ciphertext` (the ``access``
  entry's receipt verified first) and :meth:`~ReviewerClient.blob`, streamed,
  resumed with ``Range`` after a broken connection, and checked to hash to
  its id.

Every refusal of the server is the shared client's
:class:`~testimony.client.errors.ServerRefused`, whose ``problem`` is the
problem document's ``code``; an answer that breaks the contract is
:class:`~testimony.client.errors.UnexpectedAnswer`; a receipt or checkpoint
that does not verify is the crypto's ``ReceiptError`` / ``CheckpointError``.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from testimony.client.errors import ConnectionFailed, ServerRefused, UnexpectedAnswer
from testimony.client.http import DEFAULT_TIMEOUT, ServerClient, refusal
from testimony.crypto import checkpoint as checkpoints
from testimony.crypto.encoding import b64u_decode, b64u_encode
from testimony.crypto.entries import (
    AccessEntry,
    OrgEntry,
    ReviewerEntry,
    SignedEntry,
    parse_entry,
)
from testimony.crypto.errors import CryptoError, ReceiptError
from testimony.crypto.keyring import Identity, session_signing_bytes
from testimony.crypto.receipts import verify_receipt
from testimony.crypto.rfc3339 import parse_time

__all__ = [
    "MAX_CIPHERTEXT_SUBJECTS",
    "MAX_LOG_PAGE",
    "SESSION_LIFETIME",
    "ReviewerClient",
    "Session",
    "VerifiedCheckpoint",
]

MAX_LOG_PAGE = 1000
"""Entries ``GET /api/v1/log/entries`` answers at most (§9)."""
MAX_CIPHERTEXT_SUBJECTS = 200
"""Submission ids ``POST /api/v1/ciphertext`` takes at most (docs/reviewers-api.md)."""
SESSION_LIFETIME = 15 * 60
"""A token's longest life, in seconds (§12.8)."""
RENEW_MARGIN = 60
"""Seconds before a token's expiry at which a new session is opened."""
_BLOB_ATTEMPTS = 4
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class VerifiedCheckpoint:
    """A checkpoint whose signature verified with the pinned log key."""

    note: str
    checkpoint: checkpoints.Checkpoint

    @property
    def size(self) -> int:
        return self.checkpoint.size

    @property
    def root(self) -> bytes:
        return self.checkpoint.root


@dataclass(frozen=True)
class Session:
    """An open session: the bearer token, the role the server gave, and the
    local time (seconds) after which a new one is opened."""

    token: str
    role: str
    renew_after: float


def _is_hex(value: object, digits: int) -> bool:
    return isinstance(value, str) and len(value) == digits and _HEX.issuperset(value)


class _Client(ServerClient):
    """The shared client, with a streamed ``GET`` for blobs."""

    @contextlib.contextmanager
    def stream(self, url: str, *, headers: Mapping[str, str]) -> Iterator[httpx.Response]:
        """``GET url`` whose body is read by the caller, chunk by chunk."""
        try:
            with self._http.stream("GET", url, headers=headers) as answer:
                yield answer
        except httpx.TransportError:
            raise ConnectionFailed() from None


class ReviewerClient:
    """One reviewer (``identity``) at the server ``server_url``.

    ``log_key`` is the log's verifier key the workstation pinned; without it
    the server's is fetched once and trusted from then on
    (:attr:`log_key` tells which, to be pinned). ``transport``, ``clock``
    (seconds, ``time.time``) are for tests. Use it as a context manager or
    call :meth:`close`.
    """

    def __init__(
        self,
        server_url: str,
        identity: Identity,
        *,
        log_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._http = _Client(server_url, transport=transport, timeout=timeout)
        self.server_url = self._http.base_url
        self.identity = identity
        self._pinned = log_key.strip() if log_key else None
        self._clock = clock
        self._session: Session | None = None
        self._renewal = threading.Lock()
        """Held to open a session: threads sharing this client (a sync's blob
        fetches) open one between them, not one each."""
        self.logins = 0
        """Sessions opened so far (for tests and diagnostics)."""

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ReviewerClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- the log key and the public log (§9) -------------------------------------------

    @property
    def log_key(self) -> str:
        """The pinned log key; fetched from the server (and kept) if none was given."""
        if self._pinned is None:
            self._pinned = self._http.log_key()
        return self._pinned

    def check_log_key(self) -> None:
        """Raise ``LogKeyMismatch`` if the server now serves another log key."""
        self._http.log_key(expected=self.log_key)

    def checkpoint(self) -> VerifiedCheckpoint:
        """``GET /api/v1/log/checkpoint``, verified with the pinned key (raises
        a ``CheckpointError`` otherwise)."""
        answer = self._http.request("GET", "/api/v1/log/checkpoint", what="the log's checkpoint")
        note = answer.text
        return VerifiedCheckpoint(note, checkpoints.verify(note, self.log_key))

    def consistency(self, first: int, second: int) -> list[bytes]:
        """The consistency proof from tree size ``first`` to ``second`` (§9)."""
        what = "the consistency proof"
        proof = self._http.get_json(
            "/api/v1/log/proof/consistency", what=what, params={"from": first, "to": second}
        )
        if (
            not isinstance(proof, dict)
            or proof.get("from") != first
            or proof.get("to") != second
            or not isinstance(proof.get("path"), list)
            or not all(_is_hex(node, 64) for node in proof["path"])
        ):
            raise UnexpectedAnswer(f"{what}: not a proof from {first} to {second}")
        return [bytes.fromhex(node) for node in proof["path"]]

    def log_entries(self, start: int, end: int) -> list[bytes]:
        """The bytes of entries ``start`` to ``end - 1`` (at most 1000, §9)."""
        what = "the log's entries"
        page = self._http.get_json(
            "/api/v1/log/entries", what=what, params={"start": start, "end": end}
        )
        entries = page.get("entries") if isinstance(page, dict) else None
        if not isinstance(entries, list) or len(entries) != end - start:
            raise UnexpectedAnswer(f"{what}: not the {end - start} entries asked for")
        try:
            return [b64u_decode(item) for item in entries]
        except (CryptoError, TypeError):
            raise UnexpectedAnswer(f"{what}: an entry is not b64u") from None

    # --- sessions (§12.8) ---------------------------------------------------------------

    def login(self) -> Session:
        """Open a session now (a challenge, signed); raises ``ServerRefused``
        (``no-standing``, ``session-signature-invalid``...) if refused."""
        what = "opening a session"
        offer = self._http.get_json("/api/v1/session/challenge", what=what)
        challenge = offer.get("challenge") if isinstance(offer, dict) else None
        if not isinstance(challenge, str) or not challenge:
            raise UnexpectedAnswer(f"{what}: the server's answer has no challenge")
        reviewer = self.identity.id
        signature = self.identity.sign(session_signing_bytes(challenge, reviewer))
        body = {"reviewer": reviewer, "challenge": challenge, "signature": b64u_encode(signature)}
        opened = self._http.post_json("/api/v1/session", body, what=what, expect=(200, 201))
        if not isinstance(opened, dict) or not isinstance(opened.get("token"), str):
            raise UnexpectedAnswer(f"{what}: the server's answer has no token")
        now = self._clock()
        lifetime = float(SESSION_LIFETIME)
        with contextlib.suppress(CryptoError, TypeError):
            # The server's clock may differ from ours: its expiry only shortens the life.
            lifetime = min(lifetime, parse_time(opened["expires"]).timestamp() - now)
        lifetime = max(lifetime, 2.0 * RENEW_MARGIN)
        self._session = Session(
            token=opened["token"],
            role=str(opened.get("role", "")),
            renew_after=now + lifetime - RENEW_MARGIN,
        )
        self.logins += 1
        return self._session

    def _token(self) -> str:
        session = self._session
        if session is None or self._clock() >= session.renew_after:
            with self._renewal:
                session = self._session
                if session is None or self._clock() >= session.renew_after:
                    session = self.login()
        return session.token

    def _forget(self, token: str) -> None:
        """The server refused ``token``: the next request opens a new session
        (unless another thread has opened one already)."""
        with self._renewal:
            if self._session is not None and self._session.token == token:
                self._session = None

    @property
    def role(self) -> str:
        """The role the server gave this reviewer's session (a session is opened if needed)."""
        self._token()
        assert self._session is not None
        return self._session.role

    def _authorised(
        self,
        method: str,
        url: str,
        *,
        what: str,
        expect: Collection[int] = (200,),
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        """A request with the session's token; a token the server finds invalid
        is renewed once."""
        for attempt in (1, 2):
            token = self._token()
            headers = {"Authorization": f"Bearer {token}"}
            answer = self._http.request(
                method, url, what=what, expect=None, headers=headers, params=params, json=json
            )
            if answer.status_code in expect:
                return answer
            refused = refusal(answer, what)
            if attempt == 1 and refused.status == 401 and refused.problem == "session-invalid":
                self._forget(token)
                continue
            raise refused
        raise AssertionError("unreachable")  # pragma: no cover

    # --- entries (§12.2) ----------------------------------------------------------------

    def post_entry(self, entry: SignedEntry, blob: bytes | None = None) -> dict[str, Any]:
        """Send a signed entry (``blob``: a reply's sealed bytes) and return
        its §10 receipt, verified: the checkpoint with the pinned log key, the
        inclusion proof, and the logged entry being exactly ``entry`` with
        ``received`` added. ``org`` and ``reviewer`` entries go without a
        session (docs/reviewers-api.md)."""
        what = f"sending the {entry.TYPE} entry"
        body: dict[str, Any] = {"entry": entry.to_object()}
        if blob is not None:
            body["blob"] = b64u_encode(blob)
        if isinstance(entry, OrgEntry | ReviewerEntry):
            answer = self._http.request(
                "POST", "/api/v1/entries", what=what, expect=(200, 201), json=body
            )
        else:
            answer = self._authorised(
                "POST", "/api/v1/entries", what=what, expect=(200, 201), json=body
            )
        receipt = self._http.parse_json(answer, what)
        self.verify_entry_receipt(receipt, entry)
        assert isinstance(receipt, dict)
        return receipt

    def verify_entry_receipt(self, receipt: Any, entry: SignedEntry) -> None:
        """Raise ``ReceiptError`` (or ``CheckpointError``) unless ``receipt``
        verifies with the pinned log key and logs exactly ``entry``."""
        verified = verify_receipt(receipt, self.log_key)
        try:
            logged = parse_entry(verified.entry)
        except CryptoError:
            raise ReceiptError("the logged entry is malformed") from None
        if (
            type(logged) is not type(entry)
            or not isinstance(logged, SignedEntry)
            or logged.signed_bytes() != entry.signed_bytes()
            or logged.signature != entry.signature
        ):
            raise ReceiptError("the logged entry is not the one sent")

    def entries_with_index(self, index: int, after: int | None = None) -> dict[str, Any]:
        """``GET /api/v1/entries?index=&after=`` (§12.6): ``{"indexes": [log
        indexes, ascending], "next": <after for the next page> | None}``, a
        superset of the annotations holding blind index ``index``."""
        what = "the annotations of a blind index"
        params: dict[str, str | int] = {"index": index}
        if after is not None:
            params["after"] = after
        answer = self._authorised("GET", "/api/v1/entries", what=what, params=params)
        page = self._http.parse_json(answer, what)
        indexes = page.get("indexes") if isinstance(page, dict) else None
        following = page.get("next") if isinstance(page, dict) else None
        if (
            not isinstance(indexes, list)
            or not all(type(i) is int and i >= 0 for i in indexes)
            or any(a >= b for a, b in itertools.pairwise(indexes))
            or (following is not None and type(following) is not int)
        ):
            raise UnexpectedAnswer(f"{what}: not a page of ascending log indexes")
        return {"indexes": indexes, "next": following}

    # --- ciphertext (§12.7) -------------------------------------------------------------

    def ciphertext(self, ids: Sequence[str]) -> dict[str, Any]:
        """``POST /api/v1/ciphertext`` for up to 200 submission ids.

        The ``access`` entry's receipt is verified (pinned log key, this
        reviewer, exactly these subjects) before anything else is read.
        Returns ``{"access": receipt, "items": [{"id", "header": bytes,
        "body": bytes | None, "witness_box": b64u | None,
        "followups": [{"id", "header", "body"}]}],
        "blobs": [hex, ...]}``, the ``b64u`` members decoded.
        """
        what = "fetching ciphertext"
        subjects = sorted(set(ids))
        if not subjects or len(subjects) > MAX_CIPHERTEXT_SUBJECTS:
            raise ValueError(f"1 to {MAX_CIPHERTEXT_SUBJECTS} submission ids a request")
        answer = self._authorised(
            "POST",
            "/api/v1/ciphertext",
            what=what,
            expect=(200, 201),
            json={"subjects": subjects},
        )
        found = self._http.parse_json(answer, what)
        if not isinstance(found, dict):
            raise UnexpectedAnswer(f"{what}: the answer is not an object")
        access_receipt = found.get("access")
        if not isinstance(access_receipt, dict):
            raise UnexpectedAnswer(f"{what}: the answer has no access receipt")
        verified = verify_receipt(access_receipt, self.log_key)
        try:
            access = parse_entry(verified.entry)
        except CryptoError:
            raise ReceiptError("the access entry is malformed") from None
        if (
            not isinstance(access, AccessEntry)
            or access.reviewer != self.identity.id
            or list(access.subjects) != subjects
        ):
            raise ReceiptError("the access entry does not name this reviewer and these subjects")
        items = found.get("items")
        blobs = found.get("blobs")
        if not isinstance(items, list) or not isinstance(blobs, list):
            raise UnexpectedAnswer(f"{what}: the answer lacks items or blobs")
        # The contract lists blob ids; today's server lists {"id", "subject"}: both are read.
        blobs = [blob.get("id") if isinstance(blob, dict) else blob for blob in blobs]
        if not all(_is_hex(blob, 64) for blob in blobs):
            raise UnexpectedAnswer(f"{what}: a blob id is not 64 hex digits")
        decoded = [self._item(item, what, followups=True) for item in items]
        if sorted(item["id"] for item in decoded) != subjects:
            raise UnexpectedAnswer(f"{what}: the items are not the submissions asked for")
        return {"access": found["access"], "items": decoded, "blobs": list(blobs)}

    @classmethod
    def _item(cls, item: Any, what: str, *, followups: bool) -> dict[str, Any]:
        bad = UnexpectedAnswer(f"{what}: an item is not {{id, header, body, followups}}")
        if not isinstance(item, dict) or not _is_hex(item.get("id"), 64):
            raise bad
        try:
            header = b64u_decode(item["header"])
            body = None if item.get("body") is None else b64u_decode(item["body"])
        except (CryptoError, KeyError, TypeError):
            raise bad from None
        decoded: dict[str, Any] = {"id": item["id"], "header": header, "body": body}
        if followups:
            box = item.get("witness_box")
            decoded["witness_box"] = box if isinstance(box, str) else None
            listed = item.get("followups", [])
            if not isinstance(listed, list):
                raise bad
            decoded["followups"] = [cls._item(f, what, followups=False) for f in listed]
        return decoded

    def blob(self, hex_id: str, *, subject: str | None = None) -> bytes:
        """``GET /api/v1/blobs/<hex_id>``, streamed; a broken connection is
        resumed with ``Range``. Raises ``UnexpectedAnswer`` if the bytes do
        not hash to ``hex_id``, and ``ServerRefused`` (``blob-unknown``,
        ``access-not-logged``) if the server will not serve it.

        ``subject``, the submission that names the blob (itself or through a
        follow-up), is sent as ``?subject=``: docs/reviewers-api.md does not
        name it, but today's server requires it to find the access entry.
        """
        if not _is_hex(hex_id, 64) or (subject is not None and not _is_hex(subject, 64)):
            raise ValueError("a blob or submission id is 64 lowercase hex digits")
        what = f"fetching blob {hex_id[:12]}"
        url = f"/api/v1/blobs/{hex_id}" + ("" if subject is None else f"?subject={subject}")
        received = bytearray()
        for attempt in range(1, _BLOB_ATTEMPTS + 1):
            try:
                self._fetch_blob(url, received, what)
                break
            except ConnectionFailed:
                if attempt == _BLOB_ATTEMPTS:
                    raise
        data = bytes(received)
        if hashlib.sha256(data).hexdigest() != hex_id:
            raise UnexpectedAnswer(f"{what}: the bytes served do not hash to the blob's id")
        return data

    def _fetch_blob(self, url: str, received: bytearray, what: str) -> None:
        for attempt in (1, 2):
            token = self._token()
            headers = {"Authorization": f"Bearer {token}"}
            if received:
                headers["Range"] = f"bytes={len(received)}-"
            with self._http.stream(url, headers=headers) as answer:
                if answer.status_code == 200:
                    del received[:]  # the whole blob, from its start
                elif answer.status_code == 206:
                    if not answer.headers.get("content-range", "").startswith(
                        f"bytes {len(received)}-"
                    ):
                        raise UnexpectedAnswer(f"{what}: the server resumed at another offset")
                else:
                    answer.read()
                    refused = refusal(answer, what)
                    if (
                        attempt == 1
                        and refused.status == 401
                        and refused.problem == "session-invalid"
                    ):
                        self._forget(token)
                        continue
                    raise refused
                try:
                    for chunk in answer.iter_bytes():
                        received += chunk
                except httpx.TransportError:
                    raise ConnectionFailed() from None
                return
        raise ServerRefused(what, 401, "session-invalid")  # pragma: no cover

"""One Testimony server, over HTTP: :class:`ServerClient` (docs/protocol.md §0).

What every client of the server needs, and nothing of the server itself (the
layer contract, ``architecture.ini``): the courier's tools use it today, the
reviewers' workstation next. It is plain ``httpx`` underneath, synchronous,
with a base URL, a timeout and, for tests, an injectable
``httpx.BaseTransport``.

- :meth:`ServerClient.request`: any request; a broken connection raises
  :class:`~.errors.ConnectionFailed`, an unexpected status
  :class:`~.errors.ServerRefused` with the problem document's ``code`` (§0:
  clients branch on ``code``).
- :meth:`ServerClient.get_json`, :meth:`ServerClient.post_json`: JSON in and
  out, the answer parsed strictly (§0: UTF-8, no name twice, no ``NaN``).
- :meth:`ServerClient.log_key`: ``GET /api/v1/log/key`` (§9), checked to be a
  verifier key and, when one is trusted already, to be that one.
- :meth:`ServerClient.pow_challenge`, :meth:`ServerClient.proof_of_work`:
  ``GET /api/v1/pow[?length=N]`` (§8; ``length`` for an upload's creation,
  §6) and its solution with :func:`testimony.crypto.pow.solve`.
- :meth:`ServerClient.intake_key`: the intake public key a form is sealed to,
  from ``GET /api/v1/forms/{id}`` (§5).

Resumable uploads (§6) are :mod:`testimony.client.tus`, on top of this.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urljoin

import httpx

from testimony.crypto import canonical, hpke, note
from testimony.crypto.encoding import b64u_decode
from testimony.crypto.errors import CryptoError
from testimony.crypto.pow import MAX_BITS, solve

from .errors import (
    ConnectionFailed,
    InvalidServerURL,
    LogKeyMismatch,
    ServerRefused,
    UnexpectedAnswer,
)

__all__ = ["DEFAULT_TIMEOUT", "Challenge", "Proof", "ServerClient", "refusal"]

DEFAULT_TIMEOUT = 60.0
"""Seconds to connect, and between two pieces of an answer (not for a whole upload)."""


def refusal(answer: httpx.Response, what: str) -> ServerRefused:
    """The :class:`~.errors.ServerRefused` for an answer the step did not expect:
    its status and the problem document's ``code`` (else ``http-<status>``)."""
    problem = "http-" + str(answer.status_code)
    with contextlib.suppress(ValueError, AttributeError, TypeError):
        code = answer.json().get("code")
        if isinstance(code, str) and code:
            problem = code
    return ServerRefused(what, answer.status_code, problem)


@dataclass(frozen=True)
class Proof:
    """A solved proof of work (§8)."""

    challenge: str
    """The challenge, as the server gave it (b64u)."""
    nonce: str
    """The nonce found (b64u)."""

    def member(self) -> dict[str, str]:
        """The ``pow`` member of a submission or follow-up (§3 step 6, §7)."""
        return {"challenge": self.challenge, "nonce": self.nonce}

    def text(self) -> str:
        """``"<challenge>:<nonce>"``, what an upload's creation carries (§6)."""
        return f"{self.challenge}:{self.nonce}"


@dataclass(frozen=True)
class Challenge:
    """A proof-of-work challenge, ``GET /api/v1/pow`` (§8)."""

    challenge: str
    bits: int
    """Leading zero bits asked for; 0 means no work is asked."""
    expires: str

    def solve(self, progress: Callable[[int, int], None] | None = None) -> Proof | None:
        """The solved proof, or None when the server asks for no work.

        Costs about ``2**bits`` hashes; ``progress(tried, expected)`` is told
        how far the search is (:func:`testimony.crypto.pow.solve`). Raises
        :class:`~.errors.UnexpectedAnswer` for a challenge that is not b64u.
        """
        if self.bits == 0:
            return None
        try:
            return Proof(self.challenge, solve(self.challenge, self.bits, progress))
        except CryptoError:
            raise UnexpectedAnswer(
                "the proof-of-work challenge: the server's challenge is not b64u"
            ) from None


class ServerClient:
    """One Testimony server at ``base_url`` (``https://intake.example.org``).

    ``transport`` replaces the network (``httpx.MockTransport``, or one that
    cuts a connection); ``timeout`` is in seconds; ``work_progress`` is told
    how far each proof of work is. Use it as a context manager,
    or call :meth:`close`. Raises :class:`~.errors.InvalidServerURL` for a
    URL that is not ``http://`` or ``https://`` with a host.
    """

    def __init__(
        self,
        base_url: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        work_progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.work_progress = work_progress
        """Told ``(hashes tried, hashes expected)`` while a proof of work is solved."""
        try:
            parsed = httpx.URL(self.base_url)
        except httpx.InvalidURL:
            parsed = None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
            raise InvalidServerURL(
                f"{base_url} is not a server URL (http:// or https://, with a host)"
            )
        self._http = httpx.Client(base_url=self.base_url, transport=transport, timeout=timeout)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> ServerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def url(self, reference: str) -> str:
        """The absolute URL of ``reference`` (a path, or a ``Location`` header)."""
        return urljoin(self.base_url + "/", reference)

    # --- any request ------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        what: str,
        expect: Collection[int] | None = (200,),
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str | int] | None = None,
        content: Any = None,
        json: Any = None,
    ) -> httpx.Response:
        """Send one request; ``url`` is a path under the base URL or absolute.

        ``what`` names the step in errors. Raises
        :class:`~.errors.ConnectionFailed` when the connection fails or breaks,
        and :class:`~.errors.ServerRefused` when the status is not in
        ``expect`` (``None``: any status is returned). ``content`` may be bytes
        or an iterable of bytes (streamed); the caller's errors raised while
        it is read pass through unchanged.
        """
        try:
            answer = self._http.request(
                method, url, headers=headers, params=params, content=content, json=json
            )
        except httpx.TransportError:
            raise ConnectionFailed() from None
        if expect is not None and answer.status_code not in expect:
            raise refusal(answer, what)
        return answer

    @staticmethod
    def parse_json(answer: httpx.Response, what: str) -> Any:
        """An answer's JSON, parsed strictly (§0); else :class:`~.errors.UnexpectedAnswer`."""
        try:
            return canonical.loads(answer.content)
        except CryptoError:
            raise UnexpectedAnswer(f"{what}: the server's answer is not JSON") from None

    def get_json(
        self, path: str, *, what: str, params: Mapping[str, str | int] | None = None
    ) -> Any:
        """``GET path`` answered ``200`` with JSON; that JSON."""
        return self.parse_json(self.request("GET", path, what=what, params=params), what)

    def post_json(
        self, path: str, body: Any, *, what: str, expect: Collection[int] = (200, 201)
    ) -> Any:
        """``POST path`` with a JSON body, answered with a status in ``expect``; its JSON."""
        return self.parse_json(
            self.request("POST", path, what=what, expect=expect, json=body), what
        )

    # --- the protocol's fixed routes ------------------------------------------------

    def log_key(self, *, expected: str | None = None) -> str:
        """The log's verifier key, ``GET /api/v1/log/key`` (§9).

        Raises :class:`~.errors.UnexpectedAnswer` if the answer is not a
        verifier key, and :class:`~.errors.LogKeyMismatch` if ``expected`` is
        given (a key pinned or published) and the served key is another.
        """
        served = self.request("GET", "/api/v1/log/key", what="the log key").text.strip()
        try:
            note.parse_verifier_key(served)
        except CryptoError:
            raise UnexpectedAnswer(
                "the log key: the server's answer is not a verifier key"
            ) from None
        if expected is not None and served != expected.strip():
            raise LogKeyMismatch(
                "the server's log key is not the one trusted for it; "
                "check it before trusting this server"
            )
        return served

    def pow_challenge(self, length: int | None = None) -> Challenge:
        """A fresh challenge, ``GET /api/v1/pow`` (§8); with ``length``, for
        creating an upload of that many bytes (``?length=``, §6), which a
        server may answer with more bits."""
        what = "the proof-of-work challenge"
        offer = self.get_json(
            "/api/v1/pow", what=what, params=None if length is None else {"length": length}
        )
        if not isinstance(offer, dict):
            raise UnexpectedAnswer(f"{what}: the server's answer is not an object")
        bits, challenge = offer.get("bits", 0), offer.get("challenge")
        if isinstance(bits, bool) or not isinstance(bits, int) or not 0 <= bits <= MAX_BITS:
            raise UnexpectedAnswer(f"{what}: `bits` is not a whole number from 0 to {MAX_BITS}")
        if bits > 0 and not isinstance(challenge, str):
            raise UnexpectedAnswer(f"{what}: the answer has no challenge")
        return Challenge(str(challenge or ""), bits, str(offer.get("expires", "")))

    def proof_of_work(self, length: int | None = None) -> Proof | None:
        """Fetch a challenge (:meth:`pow_challenge`) and solve it; None when the
        server asks for no work. :attr:`work_progress` is told how far it is."""
        return self.pow_challenge(length).solve(self.work_progress)

    def intake_key(self, form_id: str | None = None) -> bytes:
        """The S1 intake public key to seal to (§1, §3 step 4), from
        ``GET /api/v1/forms/{form_id}`` (§5); by default the first form the
        server lists. Its ``intake_key_id``, when given, must be the key's id.
        """
        what = "the intake key"
        if form_id is None:
            listed = self.get_json("/api/v1/forms", what=what)
            if not isinstance(listed, list) or not listed or not isinstance(listed[0], dict):
                raise UnexpectedAnswer(f"{what}: the server publishes no form")
            form_id = str(listed[0].get("id", ""))
        form = self.get_json(f"/api/v1/forms/{quote(form_id, safe='')}", what=what)
        try:
            public = b64u_decode(form["intake_key"])
            key_id = hpke.key_id(public)
        except (CryptoError, KeyError, TypeError):
            raise UnexpectedAnswer(f"{what}: the form carries no S1 intake key") from None
        if form.get("intake_key_id", key_id) != key_id:
            raise UnexpectedAnswer(f"{what}: the key does not have the id the form gives")
        return public

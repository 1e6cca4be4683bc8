"""Every error the shared client (``testimony.client``) raises on purpose.

Each class has a stable ``code``; each message is one line that says what
was being done (``"creating an upload: the server answered 413
(upload-quota-exceeded)"``) and never holds a key, a ciphertext, a receipt
code or anything else the user did not type.

::

    ClientError
    ├── InvalidServerURL    the server's URL is not an http:// or https:// URL with a host
    ├── ConnectionFailed    the server could not be reached, or the connection broke
    ├── ServerRefused       the server answered a status the step does not expect;
    │                       carries the HTTP status and the problem ``code`` (§0)
    ├── UnexpectedAnswer    a success answer without what the protocol promises
    ├── LogKeyMismatch      the server's log key is not the one trusted for it (§9)
    ├── UploadVanished      a tus upload is gone from the server in mid-transfer (§6)
    └── SourceChanged       the bytes being uploaded changed while they were read

Callers that have their own error tree (the courier's ``UploadFailed``,
``upload-failed``) map these onto it, keeping the message.
"""

from __future__ import annotations

__all__ = [
    "ClientError",
    "ConnectionFailed",
    "InvalidServerURL",
    "LogKeyMismatch",
    "ServerRefused",
    "SourceChanged",
    "UnexpectedAnswer",
    "UploadVanished",
]


class ClientError(Exception):
    """Base of every error the shared client raises on purpose."""

    code = "client-error"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.__doc__ or self.code)


class InvalidServerURL(ClientError):
    """The server's URL is not an ``http://`` or ``https://`` URL with a host."""

    code = "invalid-server-url"


class ConnectionFailed(ClientError):
    """The connection to the server failed."""

    code = "connection-failed"

    def __init__(self, message: str = "the connection to the server failed") -> None:
        super().__init__(message)


class ServerRefused(ClientError):
    """The server answered with a status the step does not expect.

    ``status`` is the HTTP status; ``problem`` the problem document's
    ``code`` (docs/protocol.md §0, "Clients branch on ``code``"), or
    ``http-<status>`` when the answer is not a problem document; ``what``
    names the step. The message is ``"<what>: the server answered <status>
    (<problem>)"``.
    """

    code = "server-refused"

    def __init__(self, what: str, status: int, problem: str) -> None:
        super().__init__(f"{what}: the server answered {status} ({problem})")
        self.what = what
        self.status = status
        self.problem = problem


class UnexpectedAnswer(ClientError):
    """A success answer lacks what the protocol promises (a member, a header, JSON)."""

    code = "unexpected-answer"


class LogKeyMismatch(ClientError):
    """The server's log key is not the one trusted for it."""

    code = "log-key-mismatch"


class UploadVanished(ClientError):
    """An upload disappeared from the server; run again."""

    code = "upload-vanished"


class SourceChanged(ClientError):
    """The bytes being uploaded changed while they were read."""

    code = "source-changed"

"""Every error ``testimony.service.courier`` raises on purpose (docs/protocol.md §4).

Each class has a stable ``code``; messages name files and rules, never an
answer, a key or a receipt code.

::

    CourierError
    ├── EnvelopeInvalid       a .testimony file breaks a rule of §4
    ├── SealRefused           the inputs cannot be sealed (bad key file, answers, attachment)
    ├── UploadFailed          the server refused or could not be reached
    └── LogKeyMismatch        the server's log key differs from the pinned one

The shared client's errors (``testimony.client.errors``) reach the courier's
users as these, with their messages unchanged (:func:`from_client`): the
client's ``LogKeyMismatch`` as ``log-key-mismatch``, every other as
``upload-failed``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from testimony.client import errors as client

__all__ = [
    "CourierError",
    "EnvelopeInvalid",
    "LogKeyMismatch",
    "SealRefused",
    "UploadFailed",
    "from_client",
    "from_client_errors",
]


class CourierError(Exception):
    """Base of every error raised on purpose by the courier tools."""

    code = "courier-error"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.__doc__ or self.code)


class EnvelopeInvalid(CourierError):
    """The envelope breaks a rule of docs/protocol.md §4."""

    code = "envelope-invalid"


class SealRefused(CourierError):
    """The inputs cannot be sealed."""

    code = "seal-refused"


class UploadFailed(CourierError):
    """The envelope could not be delivered."""

    code = "upload-failed"


class LogKeyMismatch(CourierError):
    """The server's log key is not the one pinned for it."""

    code = "log-key-mismatch"


def from_client(exc: client.ClientError) -> CourierError:
    """The courier's error for one the shared client raised, with its message."""
    if isinstance(exc, client.LogKeyMismatch):
        return LogKeyMismatch(str(exc))
    return UploadFailed(str(exc))


@contextlib.contextmanager
def from_client_errors() -> Iterator[None]:
    """Raise the shared client's errors as the courier's (:func:`from_client`)."""
    try:
        yield
    except client.ClientError as exc:
        raise from_client(exc) from exc

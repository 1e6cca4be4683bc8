"""Every error ``testimony.service.courier`` raises on purpose (docs/protocol.md §4).

Each class has a stable ``code``; messages name files and rules, never an
answer, a key or a receipt code.

::

    CourierError
    ├── EnvelopeInvalid       a .testimony file breaks a rule of §4
    ├── SealRefused           the inputs cannot be sealed (bad key file, answers, attachment)
    ├── UploadFailed          the server refused or could not be reached
    └── LogKeyMismatch        the server's log key differs from the pinned one
"""

from __future__ import annotations

__all__ = ["CourierError", "EnvelopeInvalid", "LogKeyMismatch", "SealRefused", "UploadFailed"]


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

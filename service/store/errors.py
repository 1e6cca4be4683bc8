"""Every error ``testimony.service.store`` raises on purpose.

A message names what failed (an index, a size, an upload's state), never an
entry's content, a blob's bytes or anything about a client. Each class has a
stable ``code`` the domain and the API translate.

::

    StoreError                     (Exception)
    ├── NotFound
    │   ├── EntryNotFound          no log entry with that index or id
    │   ├── CheckpointNotFound     no checkpoint was signed at that size
    │   ├── BlobNotFound           no verified blob with that id
    │   └── UploadNotFound         no partial upload with that id
    ├── SizeOutOfRange             a tree size or index beyond the stored log
    ├── BlobHashMismatch           the bytes do not hash to the expected id
    ├── UploadOffsetMismatch       a partial upload is appended at the wrong offset
    ├── UploadTooLarge             a partial upload would grow past its limit
    ├── UploadBusy                 another writer holds the partial upload
    ├── UploadExists               a partial upload with that id already exists
    ├── UploadQuotaExceeded        the unfinished uploads are at their quota
    └── BatcherClosed              the append batcher no longer takes entries

Refusals by the database's own append-only triggers are not translated here:
they surface as ``sqlalchemy.exc.IntegrityError`` because nothing in this
package ever asks the database for a change the triggers refuse.
"""

from __future__ import annotations


class StoreError(Exception):
    """Base of every error raised on purpose by ``testimony.service.store``."""

    code = "store-error"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.__doc__ or self.code)


class NotFound(StoreError):
    """The thing asked for is not stored."""

    code = "not-found"


class EntryNotFound(NotFound):
    """No log entry has that index or id."""

    code = "entry-not-found"


class CheckpointNotFound(NotFound):
    """No checkpoint was signed at that tree size."""

    code = "checkpoint-not-found"


class BlobNotFound(NotFound):
    """No verified blob has that id."""

    code = "blob-not-found"


class UploadNotFound(NotFound):
    """No partial upload has that id."""

    code = "upload-not-found"


class SizeOutOfRange(StoreError):
    """A tree size or leaf index lies beyond the stored log."""

    code = "size-out-of-range"


class BlobHashMismatch(StoreError):
    """The bytes written do not hash to the expected blob id; nothing was kept."""

    code = "blob-hash-mismatch"


class UploadOffsetMismatch(StoreError):
    """A partial upload was appended at an offset other than its current size."""

    code = "upload-offset-mismatch"


class UploadTooLarge(StoreError):
    """A partial upload would grow past the limit it was given."""

    code = "upload-too-large"


class UploadBusy(StoreError):
    """Another writer is appending to or finishing this partial upload."""

    code = "upload-busy"


class UploadExists(StoreError):
    """A partial upload with this id already exists."""

    code = "upload-exists"


class UploadQuotaExceeded(StoreError):
    """The unfinished uploads are at their quota; the upload was not created."""

    code = "upload-quota-exceeded"


class BatcherClosed(StoreError):
    """The append batcher is closed and takes no more entries."""

    code = "batcher-closed"

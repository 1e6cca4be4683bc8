"""Every error ``testimony.crypto`` raises.

Checks raise; they never return ``False``. A message says what failed, never
the secret, key or plaintext involved. Each class has a stable ``code`` that
the service and the CLI print (``testimony: ... (code)``).

::

    CryptoError                       (ValueError)
    ├── MalformedInput                wrong type, length or encoding of an input
    │   └── EntryMalformed            not a log entry of the protocol (§9, §12; crypto/entries.py)
    ├── StreamError                   docs/protocol.md §2 decryption failed
    │   ├── StreamTagError            a chunk's tag does not verify (wrong key, altered, reordered)
    │   ├── StreamTruncatedError      the input ends before a final chunk
    │   ├── StreamMisplacedFinalError a chunk marked final is followed by more data
    │   ├── StreamTrailingDataError   bytes after the final chunk
    │   └── StreamShortChunkError     a chunk shorter than a tag, or an empty non-first final chunk
    ├── HPKEOpenError                 docs/protocol.md §1 Open failed (wrong key, info or altered data)
    ├── PayloadOpenError              a sealed reviewer payload does not open (§12.5 to 12.7)
    ├── PaddingError                  docs/protocol.md §3 unpadding failed
    ├── ReceiptCodeError              not a receipt code (docs/protocol.md §7)
    ├── ReceiptError                  a receipt does not verify (docs/protocol.md §10)
    ├── SignatureError                an Ed25519 signature does not verify
    ├── ProofError                    a Merkle proof does not verify (docs/protocol.md §9)
    │   └── TreeSizeError             an index or size is out of range for the tree
    └── CheckpointError               a checkpoint or signed note is not acceptable (§9)
        ├── NoteFormatError           not a well-formed signed note / checkpoint
        ├── UnknownKeyError           no signature by the expected key
        ├── OriginMismatchError       the note names another log
        ├── NoteSignatureError        the expected key's signature does not verify
        │   └── CosignatureError      a pinned witness's cosignature does not verify (§13)
        └── TooFewCosignatures        fewer valid cosignatures of pinned witnesses than required
"""

from __future__ import annotations


class CryptoError(ValueError):
    """Base of every error raised by ``testimony.crypto``."""

    code = "crypto-error"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.__doc__ or self.code)


class MalformedInput(CryptoError):
    """An input has the wrong type, length or encoding."""

    code = "malformed-input"


class EntryMalformed(MalformedInput):
    """A log entry is not one of the protocol's (docs/protocol.md §9, §12).

    ``entry_type`` is the entry's ``type`` when it names a known one, and
    ``detail`` what is wrong (naming the member, never its value).
    """

    code = "entry-malformed"

    def __init__(self, detail: str | None = None, *, entry_type: str | None = None) -> None:
        self.detail = detail or "not a log entry of the protocol"
        self.entry_type = entry_type
        super().__init__(f"{entry_type} entry: {self.detail}" if entry_type else self.detail)


class StreamError(CryptoError):
    """The STREAM ciphertext does not decrypt."""

    code = "stream-invalid"


class StreamTagError(StreamError):
    """A STREAM chunk does not authenticate (wrong key, altered or reordered data)."""

    code = "stream-bad-tag"


class StreamTruncatedError(StreamError):
    """The STREAM ciphertext ends before its final chunk (truncated)."""

    code = "stream-truncated"


class StreamMisplacedFinalError(StreamError):
    """A STREAM chunk marked final is followed by more chunks."""

    code = "stream-misplaced-final"


class StreamTrailingDataError(StreamError):
    """The STREAM ciphertext has data after its final chunk."""

    code = "stream-trailing-data"


class StreamShortChunkError(StreamError):
    """A STREAM chunk is shorter than a tag, or an empty final chunk follows others."""

    code = "stream-short-chunk"


class HPKEOpenError(CryptoError):
    """The sealed message does not open (wrong key, wrong info or altered data)."""

    code = "hpke-open-failed"


class PaddingError(CryptoError):
    """The padded plaintext is inconsistent with its declared size."""

    code = "bad-padding"


class ReceiptCodeError(CryptoError):
    """Not a receipt code: 20 decimal digits, grouped by 4 with hyphens or spaces."""

    code = "bad-receipt-code"


class ReceiptError(CryptoError):
    """The receipt does not verify."""

    code = "bad-receipt"


class SignatureError(CryptoError):
    """The Ed25519 signature does not verify."""

    code = "bad-signature"


class ProofError(CryptoError):
    """The Merkle proof does not verify."""

    code = "bad-proof"


class TreeSizeError(ProofError):
    """An index or tree size is out of range."""

    code = "bad-tree-size"


class CheckpointError(CryptoError):
    """The checkpoint is not acceptable."""

    code = "bad-checkpoint"


class NoteFormatError(CheckpointError):
    """Not a well-formed signed note or checkpoint."""

    code = "malformed-checkpoint"


class UnknownKeyError(CheckpointError):
    """The note carries no signature by the expected key."""

    code = "unknown-checkpoint-key"


class OriginMismatchError(CheckpointError):
    """The checkpoint names another log than the expected origin."""

    code = "checkpoint-origin-mismatch"


class NoteSignatureError(CheckpointError):
    """The checkpoint signature does not verify."""

    code = "bad-checkpoint-signature"


class CosignatureError(NoteSignatureError):
    """A pinned witness's cosignature on the checkpoint does not verify (§13)."""

    code = "bad-cosignature"


class TooFewCosignatures(CheckpointError):
    """The checkpoint carries fewer valid cosignatures by pinned witnesses than required (§13)."""

    code = "too-few-cosignatures"


class PayloadOpenError(CryptoError):
    """A sealed reviewer payload (§12.5 to 12.7) does not open (wrong key, altered data)."""

    code = "payload-open-failed"

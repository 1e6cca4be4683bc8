"""Every error the intake domain raises on purpose (docs/protocol.md §3, §6, §7, §8, §9).

A message says what is wrong with a request in terms the client can act on; it
never repeats a key, a ciphertext, a receipt or anything about the client.
Each class has a stable ``code``; ``testimony.service.api.errors`` maps each
code to one HTTP status and an RFC 9457 problem document, and the CLI prints
``testimony: <message> (<code>)``.

::

    DomainError  (Exception)             domain-error
    ├── InvalidRequest                   invalid-request
    │   ├── MalformedSubmission          malformed-submission
    │   ├── UnknownIntakeKey             unknown-intake-key
    │   ├── UnknownBlob                  unknown-blob
    │   ├── IncompleteBlob               incomplete-blob
    │   ├── SubmissionConflict           submission-conflict
    │   ├── BadTreeRange                 bad-tree-range
    │   ├── MalformedUpload              malformed-upload
    │   ├── MalformedFollowup            malformed-followup
    │   ├── UnknownParent                unknown-parent
    │   ├── ParentWithoutWitness         parent-without-witness
    │   ├── FollowupConflict             followup-conflict
    │   └── MalformedRepliesRequest      malformed-replies-request
    ├── WitnessAuthError                 witness-auth-error
    │   ├── FollowupSignatureInvalid     followup-signature-invalid
    │   ├── RepliesSignatureInvalid      replies-signature-invalid
    │   ├── ReplyChallengeInvalid        reply-challenge-invalid
    │   ├── ReplyChallengeExpired        reply-challenge-expired
    │   └── ReplyChallengeReused         reply-challenge-reused
    ├── ReviewerError                    reviewer-error   (docs/reviewers-api.md)
    │   ├── MalformedEntryRequest        malformed-entry-request
    │   ├── EntryMalformed               entry-malformed
    │   ├── EntryTypeNotAccepted         entry-type-not-accepted
    │   ├── EntrySignatureInvalid        entry-signature-invalid
    │   ├── SetupTokenInvalid            setup-token-invalid
    │   ├── ActorNotSession              actor-not-session
    │   ├── ReplyBlobMismatch            reply-blob-mismatch
    │   ├── GovernanceRefusal            governance-refused, and its codes:
    │   │   no-standing, invite-unknown, invite-reused, grant-refused, wrong-epoch,
    │   │   unknown-proposal, proposal-done, approval-repeated, org-exists, no-organisation
    │   ├── MalformedSessionRequest      malformed-session-request
    │   ├── SessionChallengeInvalid      session-challenge-invalid
    │   ├── SessionChallengeExpired      session-challenge-expired
    │   ├── SessionChallengeReused       session-challenge-reused
    │   ├── SessionSignatureInvalid      session-signature-invalid
    │   ├── SessionRequired              session-required
    │   ├── SessionInvalid               session-invalid
    │   ├── RoleForbidden                role-forbidden
    │   ├── UnknownSubmission            unknown-submission
    │   └── AccessNotLogged              access-not-logged
    ├── ProofOfWorkError                 pow-error
    │   ├── ProofOfWorkRequired          pow-required
    │   ├── ProofOfWorkInvalid           pow-invalid
    │   ├── ProofOfWorkExpired           pow-expired
    │   ├── ProofOfWorkReused            pow-reused
    │   └── ProofOfWorkInsufficient      pow-insufficient
    ├── TooLarge                         too-large
    │   ├── RequestTooLarge              request-too-large
    │   ├── BodyTooLarge                 body-too-large
    │   ├── BlobTooLarge                 blob-too-large
    │   ├── UploadQuotaExceeded          upload-quota-exceeded
    │   └── UploadLengthExceeded         upload-length-exceeded
    ├── NotFound                         not-found
    │   ├── EntryNotFound                entry-not-found
    │   ├── BlobUnknown                  blob-unknown
    │   ├── FormNotFound                 form-not-found
    │   └── UploadNotFound               upload-not-found
    ├── UploadExpired                    upload-expired
    ├── UploadOffsetMismatch             upload-offset-mismatch
    ├── UploadHashMismatch               upload-hash-mismatch
    ├── UploadBusy                       upload-busy
    ├── Unavailable                      unavailable
    ├── StoredBlobCorrupt                stored-blob-corrupt
    └── SetupError                       setup-error
        ├── AlreadyInitialised           already-initialised
        ├── NotInitialised               not-initialised
        ├── BadKeyFile                   bad-key-file
        ├── BadSettings                  bad-settings
        └── OutputExists                 output-exists
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from testimony.service.store import errors as store_errors

__all__ = [
    "GOVERNANCE_CODES",
    "AccessNotLogged",
    "ActorNotSession",
    "AlreadyInitialised",
    "BadKeyFile",
    "BadSettings",
    "BadTreeRange",
    "BlobTooLarge",
    "BlobUnknown",
    "BodyTooLarge",
    "DomainError",
    "EntryMalformed",
    "EntryNotFound",
    "EntrySignatureInvalid",
    "EntryTypeNotAccepted",
    "FollowupConflict",
    "FollowupSignatureInvalid",
    "FormNotFound",
    "GovernanceRefusal",
    "IncompleteBlob",
    "InvalidRequest",
    "MalformedEntryRequest",
    "MalformedFollowup",
    "MalformedRepliesRequest",
    "MalformedSessionRequest",
    "MalformedSubmission",
    "MalformedUpload",
    "NotFound",
    "NotInitialised",
    "OutputExists",
    "ParentWithoutWitness",
    "ProofOfWorkError",
    "ProofOfWorkExpired",
    "ProofOfWorkInsufficient",
    "ProofOfWorkInvalid",
    "ProofOfWorkRequired",
    "ProofOfWorkReused",
    "RepliesSignatureInvalid",
    "ReplyBlobMismatch",
    "ReplyChallengeExpired",
    "ReplyChallengeInvalid",
    "ReplyChallengeReused",
    "RequestTooLarge",
    "ReviewerError",
    "RoleForbidden",
    "SessionChallengeExpired",
    "SessionChallengeInvalid",
    "SessionChallengeReused",
    "SessionInvalid",
    "SessionRequired",
    "SessionSignatureInvalid",
    "SetupError",
    "SetupTokenInvalid",
    "StoredBlobCorrupt",
    "SubmissionConflict",
    "TooLarge",
    "Unavailable",
    "UnknownBlob",
    "UnknownIntakeKey",
    "UnknownParent",
    "UnknownSubmission",
    "UploadBusy",
    "UploadExpired",
    "UploadHashMismatch",
    "UploadLengthExceeded",
    "UploadNotFound",
    "UploadOffsetMismatch",
    "UploadQuotaExceeded",
    "WitnessAuthError",
    "from_store",
]


class DomainError(Exception):
    """Base of every error raised on purpose by ``testimony.service.domain``."""

    code = "domain-error"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.__doc__ or self.code)

    @property
    def message(self) -> str:
        """The one-line message (safe to show: it names no secret and no client)."""
        return str(self)


# --- the request is wrong ------------------------------------------------------


class InvalidRequest(DomainError):
    """The request is not acceptable."""

    code = "invalid-request"


class MalformedSubmission(InvalidRequest):
    """The submission does not have the structure of docs/protocol.md §3 step 6."""

    code = "malformed-submission"


class UnknownIntakeKey(InvalidRequest):
    """The submission names an intake key this server does not know."""

    code = "unknown-intake-key"


class UnknownBlob(InvalidRequest):
    """The submission names a blob that was never uploaded (or has expired)."""

    code = "unknown-blob"


class IncompleteBlob(InvalidRequest):
    """The submission names a blob whose upload has not finished."""

    code = "incomplete-blob"


class SubmissionConflict(InvalidRequest):
    """A submission with this header and body was logged with other attachments or keys."""

    code = "submission-conflict"


class BadTreeRange(InvalidRequest):
    """The tree size, index or range is out of range for the log."""

    code = "bad-tree-range"


class MalformedUpload(InvalidRequest):
    """The upload request lacks a required tus header or has a malformed one."""

    code = "malformed-upload"


class MalformedFollowup(InvalidRequest):
    """The follow-up does not have the structure of docs/protocol.md §7."""

    code = "malformed-followup"


class UnknownParent(InvalidRequest):
    """The follow-up or reply names a parent that is not a logged submission."""

    code = "unknown-parent"


class ParentWithoutWitness(InvalidRequest):
    """The parent submission carries no witness key, so nothing can follow it up."""

    code = "parent-without-witness"


class FollowupConflict(InvalidRequest):
    """A follow-up with this parent, header and body was logged with other attachments."""

    code = "followup-conflict"


class MalformedRepliesRequest(InvalidRequest):
    """The replies request is not {witness, challenge, signature} (see docs/followups.md)."""

    code = "malformed-replies-request"


# --- the witness key does not authenticate the request ----------------------------


class WitnessAuthError(DomainError):
    """The request is not authenticated by the witness key."""

    code = "witness-auth-error"


class FollowupSignatureInvalid(WitnessAuthError):
    """The follow-up's signature does not verify with the parent's witness key."""

    code = "followup-signature-invalid"


class RepliesSignatureInvalid(WitnessAuthError):
    """The replies request's signature does not verify with the witness key it names."""

    code = "replies-signature-invalid"


class ReplyChallengeInvalid(WitnessAuthError):
    """The replies challenge was not issued by this server."""

    code = "reply-challenge-invalid"


class ReplyChallengeExpired(WitnessAuthError):
    """The replies challenge has expired; fetch a new one."""

    code = "reply-challenge-expired"


class ReplyChallengeReused(WitnessAuthError):
    """The replies challenge was used before; fetch a new one."""

    code = "reply-challenge-reused"


# --- reviewers (docs/protocol.md §12; docs/reviewers-api.md) ----------------------


class ReviewerError(DomainError):
    """A reviewer's request is refused."""

    code = "reviewer-error"


class MalformedEntryRequest(ReviewerError):
    """An entries request is {"entry": <signed entry>} with, for a reply, "blob"."""

    code = "malformed-entry-request"


class EntryMalformed(ReviewerError):
    """The entry is not of its type's shape (the message names the member)."""

    code = "entry-malformed"


class EntryTypeNotAccepted(ReviewerError):
    """The server does not accept entries of this type from a workstation."""

    code = "entry-type-not-accepted"


class EntrySignatureInvalid(ReviewerError):
    """The entry's signature does not verify with its actor's key."""

    code = "entry-signature-invalid"


class SetupTokenInvalid(ReviewerError):
    """The organisation entry does not carry the hash of this server's setup token."""

    code = "setup-token-invalid"


class ActorNotSession(ReviewerError):
    """The entry's actor is not the reviewer of the session that sends it."""

    code = "actor-not-session"


class ReplyBlobMismatch(ReviewerError):
    """A reply carries its sealed bytes as `blob`, whose SHA-256 is the entry's `sealed`."""

    code = "reply-blob-mismatch"


class GovernanceRefusal(ReviewerError):
    """The entry is refused by the rules of docs/protocol.md §12.4 and §12.5.

    Its ``code`` is the rule's (``testimony.crypto.governance``): no-standing,
    invite-unknown, invite-reused, grant-refused, wrong-epoch,
    unknown-proposal, proposal-done, approval-repeated, org-exists,
    no-organisation; ``governance-refused`` for the rest.
    """

    code = "governance-refused"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


GOVERNANCE_CODES = (
    "no-standing",
    "invite-unknown",
    "invite-reused",
    "grant-refused",
    "wrong-epoch",
    "unknown-proposal",
    "proposal-done",
    "approval-repeated",
    "org-exists",
    "no-organisation",
)
"""The codes a :class:`GovernanceRefusal` may carry besides its own."""


class MalformedSessionRequest(ReviewerError):
    """A session request is {reviewer, challenge, signature} (docs/reviewers-api.md)."""

    code = "malformed-session-request"


class SessionChallengeInvalid(ReviewerError):
    """The session challenge was not issued by this server."""

    code = "session-challenge-invalid"


class SessionChallengeExpired(ReviewerError):
    """The session challenge has expired; fetch a new one."""

    code = "session-challenge-expired"


class SessionChallengeReused(ReviewerError):
    """The session challenge was used before; fetch a new one."""

    code = "session-challenge-reused"


class SessionSignatureInvalid(ReviewerError):
    """The session request's signature does not verify with the reviewer's key."""

    code = "session-signature-invalid"


class SessionRequired(ReviewerError):
    """This route needs a reviewer's session: `Authorization: Bearer <token>`."""

    code = "session-required"


class SessionInvalid(ReviewerError):
    """The session token is damaged, expired or not this server's; open a new session."""

    code = "session-invalid"


class RoleForbidden(ReviewerError):
    """The session's role may not use this route."""

    code = "role-forbidden"


class UnknownSubmission(ReviewerError):
    """A subject is not the id of a logged submission."""

    code = "unknown-submission"


class AccessNotLogged(ReviewerError):
    """No access entry of this reviewer names a submission that holds this blob."""

    code = "access-not-logged"


# --- proof of work (§8) --------------------------------------------------------


class ProofOfWorkError(DomainError):
    """The proof of work is not acceptable."""

    code = "pow-error"


class ProofOfWorkRequired(ProofOfWorkError):
    """This server requires a proof of work (GET /api/v1/pow)."""

    code = "pow-required"


class ProofOfWorkInvalid(ProofOfWorkError):
    """The proof-of-work challenge was not issued by this server, or is malformed."""

    code = "pow-invalid"


class ProofOfWorkExpired(ProofOfWorkError):
    """The proof-of-work challenge has expired; fetch a new one."""

    code = "pow-expired"


class ProofOfWorkReused(ProofOfWorkError):
    """The proof-of-work challenge was already used; fetch a new one."""

    code = "pow-reused"


class ProofOfWorkInsufficient(ProofOfWorkError):
    """The nonce does not give the required number of leading zero bits."""

    code = "pow-insufficient"


# --- sizes and quotas ------------------------------------------------------------


class TooLarge(DomainError):
    """The request is larger than this server accepts."""

    code = "too-large"


class RequestTooLarge(TooLarge):
    """The request body is larger than this endpoint accepts."""

    code = "request-too-large"


class BodyTooLarge(TooLarge):
    """An inline body is larger than 1 MiB; upload it as a blob and send `body_blob`."""

    code = "body-too-large"


class BlobTooLarge(TooLarge):
    """The blob is larger than this server accepts."""

    code = "blob-too-large"


class UploadQuotaExceeded(TooLarge):
    """Too many unfinished uploads are pending on this server; try again later."""

    code = "upload-quota-exceeded"


class UploadLengthExceeded(TooLarge):
    """The data would go past the upload's declared length."""

    code = "upload-length-exceeded"


# --- not there -------------------------------------------------------------------


class NotFound(DomainError):
    """Nothing is there."""

    code = "not-found"


class EntryNotFound(NotFound):
    """No log entry has that id."""

    code = "entry-not-found"


class BlobUnknown(NotFound):
    """No blob of this id is stored (never, or no longer: shredded)."""

    code = "blob-unknown"


class FormNotFound(NotFound):
    """No form has that id and version."""

    code = "form-not-found"


class UploadNotFound(NotFound):
    """No upload has that id."""

    code = "upload-not-found"


# --- uploads (§6) ----------------------------------------------------------------


class UploadExpired(DomainError):
    """The unfinished upload has expired; start a new one."""

    code = "upload-expired"


class UploadOffsetMismatch(DomainError):
    """Upload-Offset is not the upload's current offset (HEAD it and resume)."""

    code = "upload-offset-mismatch"


class UploadHashMismatch(DomainError):
    """The uploaded bytes do not hash to the declared sha256; the upload is discarded."""

    code = "upload-hash-mismatch"


class UploadBusy(DomainError):
    """Another request is writing to this upload; retry."""

    code = "upload-busy"


# --- the server --------------------------------------------------------------------


class Unavailable(DomainError):
    """The server cannot take this request now; retry later."""

    code = "unavailable"


class StoredBlobCorrupt(DomainError):
    """A stored ciphertext does not hash to its id (run `testimony audit`)."""

    code = "stored-blob-corrupt"


# --- setting up and running the server (CLI) ----------------------------------------


class SetupError(DomainError):
    """The data directory or the settings are not usable."""

    code = "setup-error"


class AlreadyInitialised(SetupError):
    """The data directory already holds a Testimony log."""

    code = "already-initialised"


class NotInitialised(SetupError):
    """The data directory holds no Testimony log (run `testimony init`)."""

    code = "not-initialised"


class BadKeyFile(SetupError):
    """A key file does not hold the key it should."""

    code = "bad-key-file"


class BadSettings(SetupError):
    """A setting has a value the server cannot use."""

    code = "bad-settings"


class OutputExists(SetupError):
    """The output folder exists and is not empty; nothing was written."""

    code = "output-exists"


# --- the store's errors, translated in one place ------------------------------------

_FROM_STORE: dict[type[store_errors.StoreError], tuple[type[DomainError], str | None]] = {
    store_errors.UploadNotFound: (UploadNotFound, None),
    store_errors.UploadBusy: (UploadBusy, None),
    store_errors.UploadOffsetMismatch: (UploadOffsetMismatch, None),
    store_errors.UploadQuotaExceeded: (UploadQuotaExceeded, None),
    store_errors.BatcherClosed: (Unavailable, "the server is shutting down"),
}
"""A store error that means the same to the client as a domain error, and the
message it gets (None: the domain error's own)."""


@contextlib.contextmanager
def from_store() -> Iterator[None]:
    """Raise the domain's error for a store error of :data:`_FROM_STORE`, the
    store's error chained as its cause; any other error passes unchanged.

    Causes are chained where they hold nothing secret — the store's messages
    name indexes, sizes and upload states only — and cut (``from None``) where
    they may hold a client's bytes: a ``JSONDecodeError`` carries the whole
    document, a ``binascii`` or ``UnicodeDecodeError`` a piece of it, and a
    key file's parse error its content. Errors a caller translates with a
    meaning of its own (a tree size out of range is a bad request *for that
    route*) are caught where that meaning is known.
    """
    try:
        yield
    except store_errors.StoreError as exc:
        translated = _FROM_STORE.get(type(exc))
        if translated is None:
            raise
        error, message = translated
        raise error(message) from exc

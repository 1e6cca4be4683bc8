"""Every error answer of the API: an RFC 9457 ``application/problem+json`` document.

::

    {"type": "urn:testimony:problem:<code>", "title": "<the code's fixed title>",
     "status": 422, "code": "<code>", "detail": "<what is wrong, for the client>"}

:data:`STATUS` is the one table from a domain error's ``code`` to its HTTP
status. Errors from FastAPI itself (a query parameter that is not a number, an
unknown path, a method the path does not take) get documents of the same
shape. An unexpected exception answers 500 ``internal-error`` (see
``middleware.CatchUnexpected``) and is logged by its class name only: no
message (a database error may quote parameters), no request line, no header,
no client address.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from testimony.service.domain import errors

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "STATUS",
    "allowed_methods",
    "extra_headers",
    "install_error_handlers",
    "problem_response",
]

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:testimony:problem:"

_logger = logging.getLogger("testimony.api")


class ApiError(Exception):
    """An error of the HTTP layer itself, not of the domain's rules (a tus
    header, say): answered as a domain error is, with its own stable
    ``code`` in :data:`STATUS` and its docstring's first line as title."""

    code = "invalid-request"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.__doc__ or self.code)

    @property
    def message(self) -> str:
        """The one-line message (safe to show: it names no secret and no client)."""
        return str(self)


class MalformedJSON(ApiError):
    """The request body is not a well-formed JSON document."""

    code = "malformed-json"


class UnsupportedMediaType(ApiError):
    """The request body has a media type this endpoint does not take."""

    code = "unsupported-media-type"


STATUS: dict[str, int] = {
    # the request is wrong
    errors.InvalidRequest.code: 400,
    "malformed-json": 400,  # MalformedJSON, below
    "unsupported-media-type": 415,  # UnsupportedMediaType, below
    errors.MalformedSubmission.code: 422,
    errors.UnknownIntakeKey.code: 422,
    errors.UnknownBlob.code: 422,
    errors.IncompleteBlob.code: 409,
    errors.SubmissionConflict.code: 409,
    errors.BadTreeRange.code: 400,
    errors.MalformedUpload.code: 400,
    errors.MalformedFollowup.code: 422,
    errors.UnknownParent.code: 422,
    errors.ParentWithoutWitness.code: 422,
    errors.FollowupConflict.code: 409,
    errors.MalformedRepliesRequest.code: 422,
    # the witness key
    errors.WitnessAuthError.code: 403,
    errors.FollowupSignatureInvalid.code: 403,
    errors.RepliesSignatureInvalid.code: 403,
    errors.ReplyChallengeInvalid.code: 403,
    errors.ReplyChallengeExpired.code: 403,
    errors.ReplyChallengeReused.code: 403,
    # reviewers (docs/reviewers-api.md)
    errors.ReviewerError.code: 400,
    errors.MalformedEntryRequest.code: 400,
    errors.EntryMalformed.code: 422,
    errors.EntryTypeNotAccepted.code: 422,
    errors.EntrySignatureInvalid.code: 403,
    errors.SetupTokenInvalid.code: 403,
    errors.ActorNotSession.code: 403,
    errors.ReplyBlobMismatch.code: 422,
    errors.GovernanceRefusal.code: 403,
    **{code: 403 for code in errors.GOVERNANCE_CODES if code != "no-organisation"},
    "no-organisation": 409,
    errors.MalformedSessionRequest.code: 400,
    errors.SessionChallengeInvalid.code: 403,
    errors.SessionChallengeExpired.code: 403,
    errors.SessionChallengeReused.code: 403,
    errors.SessionSignatureInvalid.code: 403,
    errors.SessionRequired.code: 401,
    errors.SessionInvalid.code: 401,
    errors.RoleForbidden.code: 403,
    errors.UnknownSubmission.code: 422,
    errors.AccessNotLogged.code: 403,
    # proof of work
    errors.ProofOfWorkError.code: 403,
    errors.ProofOfWorkRequired.code: 403,
    errors.ProofOfWorkInvalid.code: 403,
    errors.ProofOfWorkExpired.code: 403,
    errors.ProofOfWorkReused.code: 403,
    errors.ProofOfWorkInsufficient.code: 403,
    # sizes and quotas
    errors.TooLarge.code: 413,
    errors.RequestTooLarge.code: 413,
    errors.BodyTooLarge.code: 413,
    errors.BlobTooLarge.code: 413,
    errors.UploadQuotaExceeded.code: 413,
    errors.UploadLengthExceeded.code: 413,
    # not there
    errors.NotFound.code: 404,
    errors.EntryNotFound.code: 404,
    errors.BlobUnknown.code: 404,
    errors.FormNotFound.code: 404,
    errors.UploadNotFound.code: 404,
    # uploads
    errors.UploadExpired.code: 410,
    errors.UploadOffsetMismatch.code: 409,
    errors.UploadHashMismatch.code: 422,
    errors.UploadBusy.code: 423,
    "tus-version-unsupported": 412,  # api.tus.TusVersionUnsupported
    # the server
    errors.Unavailable.code: 503,
    errors.DomainError.code: 400,
    errors.SetupError.code: 500,
    errors.AlreadyInitialised.code: 500,
    errors.NotInitialised.code: 500,
    errors.BadKeyFile.code: 500,
    errors.BadSettings.code: 500,
    errors.OutputExists.code: 500,
    errors.StoredBlobCorrupt.code: 500,
    # answered by the framework
    "method-not-allowed": 405,
    "internal-error": 500,
    # answered by the server's own HTTP front (serving.BoundedHttpProtocol)
    "malformed-http": 400,
    "request-timeout": 408,
    "header-too-large": 431,
}
"""HTTP status of each error code. Every code a domain error can carry is here."""

TITLES: dict[str, str] = {
    "method-not-allowed": "The method is not allowed on this resource.",
    "internal-error": "The server failed to answer this request.",
    "malformed-http": "The request is not HTTP/1.1 that the server can read.",
    "request-timeout": "The request did not arrive in time.",
    "header-too-large": "The request line and headers are too large.",
}


def _title(code: str) -> str:
    if code in TITLES:
        return TITLES[code]
    for cls in _all_domain_errors():
        if cls.code == code and cls.__doc__:
            return cls.__doc__.strip().splitlines()[0]
    return code


def _all_domain_errors() -> list[type[errors.DomainError] | type[ApiError]]:
    found: list[type[errors.DomainError] | type[ApiError]] = []
    pending: list[type[errors.DomainError] | type[ApiError]] = [errors.DomainError, ApiError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def problem_document(code: str, detail: str, status: int | None = None) -> dict[str, Any]:
    """The problem document of ``code`` (status from :data:`STATUS` unless given)."""
    status = STATUS.get(code, 500) if status is None else status
    return {
        "type": TYPE_PREFIX + code,
        "title": _title(code),
        "status": status,
        "code": code,
        "detail": detail,
    }


def problem_response(
    code: str, detail: str, *, status: int | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    """A ``JSONResponse`` carrying the problem document of ``code``."""
    document = problem_document(code, detail, status)
    return JSONResponse(
        document, status_code=document["status"], media_type=PROBLEM_MEDIA_TYPE, headers=headers
    )


def extra_headers(path: str, code: str) -> dict[str, str]:
    """Headers the error answer ``code`` to a request for ``path`` carries besides
    the problem document: tus's. Every answer under the upload endpoint carries
    Tus-Resumable; a version mismatch also names the versions this server speaks."""
    headers: dict[str, str] = {}
    if path.startswith("/api/v1/uploads"):
        headers["Tus-Resumable"] = "1.0.0"
        if code == "tus-version-unsupported":
            headers["Tus-Version"] = "1.0.0"
    return headers


def _extra_headers(request: Request, code: str) -> dict[str, str]:
    return extra_headers(request.url.path, code)


HTTP_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the application takes at the request's path.

    The router answers 405 from the first route whose path matches, naming
    only that route's methods; a path served by several routes (one per
    method, as the tus upload URL is) takes the methods of them all. Each
    method is tried on the router as the request would be.
    """
    routes = request.app.router.routes
    return [
        method
        for method in HTTP_METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, (errors.DomainError, ApiError))
    return problem_response(exc.code, exc.message, headers=_extra_headers(request, exc.code))


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(part) for part in loc]
    if parts and parts[0] in ("query", "path", "header", "body"):
        kind, rest = parts[0], parts[1:]
        return f"{kind} parameter `{'.'.join(rest)}`" if rest else kind
    return ".".join(parts) or "request"


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = exc.errors()
    if any(item.get("type") == "json_invalid" for item in problems):
        code = MalformedJSON.code
        detail = "the request body is not well-formed JSON"
    else:
        code = errors.InvalidRequest.code
        # Never echo the input: only where the problem is and what was expected.
        detail = "; ".join(
            f"{_location(tuple(item.get('loc', ())))}: {item.get('msg', 'invalid')}"
            for item in problems
        )
    return problem_response(code, detail, headers=_extra_headers(request, code))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        code, detail = errors.NotFound.code, "there is nothing at this path"
    elif exc.status_code == 405:
        code, detail = "method-not-allowed", "this path does not take this method"
    elif exc.status_code == 413:
        code, detail = errors.RequestTooLarge.code, "the request body is too large"
    elif exc.status_code == 415:
        code, detail = UnsupportedMediaType.code, "this media type is not accepted here"
    elif 400 <= exc.status_code < 500:
        code, detail = errors.InvalidRequest.code, "the request is not acceptable"
    else:
        code, detail = "internal-error", "the server failed to answer this request"
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers = {k: v for k, v in headers.items() if k.lower() != "allow"}
        headers["Allow"] = ", ".join(allowed_methods(request))
    headers.update(_extra_headers(request, code))
    return problem_response(code, detail, status=exc.status_code, headers=headers)


def log_unexpected(exc: BaseException) -> None:
    """Log an unexpected exception by its class name only.

    Not the message: a database error may quote the statement's parameters.
    Not the request: no path, header or client address is logged, ever.
    """
    _logger.error("internal error: %s", type(exc).__name__)


def install_error_handlers(app: FastAPI) -> None:
    """Make every error answer of ``app`` a problem document."""
    app.add_exception_handler(errors.DomainError, _domain_error)
    app.add_exception_handler(ApiError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)

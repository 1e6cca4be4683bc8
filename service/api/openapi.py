"""The OpenAPI document served at ``/api/v1/openapi.json``: what the server really does.

Every operation declares its request body (the routes read their JSON
themselves, so FastAPI would not know it: :func:`json_body`), its parameters
including the headers it requires (tus), and every status it can answer:
each error status as an ``application/problem+json`` document whose
``status`` is that status and whose ``code`` is one of the codes listed for
it (:func:`problems`, from ``errors.STATUS``). FastAPI's own ``422 Validation
Error`` is never served (a request that fails FastAPI's validation is a 400
problem, ``errors``) and is taken out of the document (:func:`document`),
which also adds the request schemas, with the limits of this server's
settings (``schemas``).

Some codes can answer any request, whatever its route (:data:`ANY_ROUTE`):
``internal-error``; ``unavailable`` (a request cancelled when the server
stops, and the HTTP front's connection cap, ``serving.py``); and the front's
own answers to a request it cannot read (``malformed-http``,
``request-timeout``, ``header-too-large``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from testimony.service.settings import Settings

from . import schemas
from .errors import PROBLEM_MEDIA_TYPE, STATUS

__all__ = [
    "ANY_ROUTE",
    "FORMS_LINKS",
    "JSON_BODY",
    "POW_CODES",
    "RECEIPT_LINKS",
    "TUS_RESUMABLE",
    "document",
    "header_parameter",
    "json_body",
    "problems",
    "tus_headers",
]

COMPONENTS = "#/components/schemas/"

ANY_ROUTE: tuple[str, ...] = (
    "malformed-http",
    "request-timeout",
    "header-too-large",
    "internal-error",
    "unavailable",
)
"""Codes any request may be answered, whatever its route (see the module docstring)."""

FRONT: frozenset[str] = frozenset(
    {"malformed-http", "request-timeout", "header-too-large", "unavailable"}
)
"""Codes the HTTP front answers before the application sees the request; its
answers carry none of the application's route-specific headers."""

JSON_BODY: tuple[str, ...] = ("malformed-json", "request-too-large", "unsupported-media-type")
"""Codes of reading a JSON request body (``submissions.read_json``)."""

POW_CODES: tuple[str, ...] = (
    "pow-required",
    "pow-invalid",
    "pow-expired",
    "pow-reused",
    "pow-insufficient",
)
"""The refusals of a request's proof of work (§8)."""

TUS_RESUMABLE = "1.0.0"


def header_parameter(
    name: str, schema: Mapping[str, Any], description: str, *, required: bool = True
) -> dict[str, Any]:
    """An OpenAPI header parameter (for ``openapi_extra={"parameters": [...]}``)."""
    return {
        "name": name,
        "in": "header",
        "required": required,
        "description": description,
        "schema": dict(schema),
    }


def tus_headers(**more: tuple[Mapping[str, Any], str, bool]) -> dict[str, Any]:
    """The response headers of a tus answer: ``Tus-Resumable`` and ``more``,
    each ``name=(schema, description, required)`` (``_`` in a name is ``-``)."""
    headers: dict[str, Any] = {
        "Tus-Resumable": {
            "required": True,
            "description": "the tus version of the answer",
            "schema": {"type": "string", "enum": [TUS_RESUMABLE]},
        }
    }
    for name, (schema, description, required) in more.items():
        headers[name.replace("_", "-")] = {
            "required": required,
            "description": description,
            "schema": dict(schema),
        }
    return headers


def problems(
    *codes: str, headers: Mapping[str, Any] | None = None
) -> dict[int | str, dict[str, Any]]:
    """The error answers of an operation that can answer ``codes`` (and
    :data:`ANY_ROUTE`): per status, a problem document limited to its codes.

    ``headers`` are response headers the application's error answers carry
    (tus); they are required where no code of the status is :data:`FRONT`'s.
    Raises ``KeyError`` for a code without a status.
    """
    by_status: dict[int, list[str]] = {}
    for code in dict.fromkeys((*codes, *ANY_ROUTE)):
        by_status.setdefault(STATUS[code], []).append(code)
    responses: dict[int | str, dict[str, Any]] = {}
    for status, listed in sorted(by_status.items()):
        schema = {
            "allOf": [
                {"$ref": COMPONENTS + "Problem"},
                {"properties": {"status": {"const": status}, "code": {"enum": listed}}},
            ]
        }
        response: dict[str, Any] = {
            "description": ", ".join(f"`{code}`" for code in listed),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": schema}},
        }
        if headers:
            from_front = any(code in FRONT for code in listed)
            response["headers"] = {
                name: {**value, "required": value.get("required", True) and not from_front}
                for name, value in headers.items()
            }
        responses[status] = response
    return responses


def json_body(name: str, description: str) -> dict[str, Any]:
    """``openapi_extra`` declaring a required ``application/json`` body whose
    schema is ``name``'s, one of ``schemas``' request schemas: :func:`document`
    puts it in place with this server's limits."""
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": {_BODY: name}}},
        }
    }


_BODY = "x-request-schema"


def _operation_ref(path: str, method: str) -> str:
    return "#/paths/" + path.replace("~", "~0").replace("/", "~1") + "/" + method


RECEIPT_LINKS: dict[str, Any] = {
    "inclusion": {
        "operationRef": _operation_ref("/api/v1/log/proof/inclusion", "get"),
        "description": "the receipt's inclusion proof, asked for again",
        "parameters": {"id": "$response.body#/id", "size": "$response.body#/inclusion/size"},
    }
}
"""Links from a receipt (the ``201`` of a submission or a follow-up)."""

FORMS_LINKS: dict[str, Any] = {
    "latest": {
        "operationRef": _operation_ref("/api/v1/forms/{form_id}", "get"),
        "description": "the first form listed",
        "parameters": {"form_id": "$response.body#/0/id"},
    },
    "version": {
        "operationRef": _operation_ref("/api/v1/forms/{form_id}/{version}", "get"),
        "description": "the first form listed, at the version listed",
        "parameters": {"form_id": "$response.body#/0/id", "version": "$response.body#/0/version"},
    },
}
"""Links from the list of forms."""


def submission_example(intake_key_id: str) -> dict[str, Any]:
    """A submission this server takes (its shape only: the header of a real one
    is sealed to the intake key, §3)."""
    return {
        "intake_key": intake_key_id,
        "header": "A" * schemas.b64u_length(schemas.HEADER_LENGTH),
        "body": "AAAA",
        "attachments": [],
        "witness": None,
        "witness_box": None,
    }


PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "upload_id": {"type": "string", "pattern": schemas.UPLOAD_ID},
}
"""Schemas of path parameters whose routes are another module's to declare
(``uploads.py``): random ids, so anything else is ``404 upload-not-found``."""


def _components() -> dict[str, Any]:
    problem = schemas.Problem.model_json_schema(ref_template=COMPONENTS + "{model}")
    return {"Problem": problem, "ProofOfWork": copy.deepcopy(schemas.PROOF_OF_WORK)}


def _request_bodies(settings: Settings) -> dict[str, dict[str, Any]]:
    """The schemas :func:`json_body` names, inlined in each operation."""
    return {
        "SubmissionRequest": schemas.submission_request(settings.max_attachments),
        "FollowupRequest": schemas.followup_request(settings.max_attachments),
        "RepliesRequest": copy.deepcopy(schemas.REPLIES_REQUEST),
        "EntryRequest": copy.deepcopy(schemas.ENTRY_REQUEST),
        "SessionRequest": copy.deepcopy(schemas.SESSION_REQUEST),
        "CiphertextRequest": copy.deepcopy(schemas.CIPHERTEXT_REQUEST),
    }


def _parameter_limits(settings: Settings) -> dict[tuple[str, str], dict[str, Any]]:
    """Bounds of parameters that are this server's settings, by (location, name)."""
    largest_blob = {"maximum": settings.max_blob_bytes}
    return {("header", "Upload-Length"): largest_blob, ("query", "length"): largest_blob}


def document(app: FastAPI, settings: Settings, *, intake_key_id: str) -> dict[str, Any]:
    """The OpenAPI document of ``app`` serving with ``settings`` (see the module
    docstring); ``intake_key_id`` is the key its example submission names."""
    openapi = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    components = openapi.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    components.update(_components())
    bodies = _request_bodies(settings)
    limits = _parameter_limits(settings)
    for path_item in openapi["paths"].values():
        for operation in path_item.values():
            content = operation.get("requestBody", {}).get("content", {})
            for media in content.values():
                if _BODY in media.get("schema", {}):
                    media["schema"] = bodies[media["schema"][_BODY]]
            responses = operation.get("responses", {})
            if "HTTPValidationError" in json.dumps(responses.get("422", {})):
                del responses["422"]  # FastAPI's phantom: never served
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["name"] in PATH_PARAMETERS:
                    parameter["schema"] = dict(PATH_PARAMETERS[parameter["name"]])
                bounds = limits.get((parameter["in"], parameter["name"]))
                if bounds:
                    parameter["schema"].update(bounds)
    submissions = openapi["paths"]["/api/v1/submissions"]["post"]
    submissions["requestBody"]["content"]["application/json"]["example"] = submission_example(
        intake_key_id
    )
    return openapi


# --- tus (uploads.py) ----------------------------------------------------------------
# The upload routes' declarations live here, beside the helpers they use, so that
# uploads.py's decorators only name them.

_HEX_PAIRS_DIGIT = "(?:[MN][DTjz]|O[DT]|Y[Tjz]|Z[DTj])"
_HEX_PAIRS_LETTER = "(?:[MN][GWm2]|O[GW]|Y[Wm2]|Z[GWm])"
_HEX_TRIPLE = (
    f"(?:{_HEX_PAIRS_DIGIT}(?:[AEIMQUYcgk][w-z0-5]|[BFJNRVZdhl][h-m])"
    f"|{_HEX_PAIRS_LETTER}(?:[EIMQUY][w-z0-5]|[FJNRVZ][h-m]))"
)
_HEX_LAST = "(?:[MN][AQgw]|O[AQ]|Y[Qgw]|Z[AQg])=="
BLOB_ID_BASE64 = f"{_HEX_TRIPLE}{{21}}{_HEX_LAST}"
"""Standard padded base64 of 64 lowercase hex ASCII digits, exactly: each
4-character group the base64 of 3 hex digits, then the last digit and `==`."""

_KEY_CHARACTERS = frozenset(chr(c) for c in range(0x21, 0x7F)) - {","}
"""What a metadata key is made of: printable ASCII but space and comma (as the server reads it)."""


def _character_class(characters: frozenset[str]) -> str:
    """A regular-expression class of exactly ``characters``, as ranges."""
    codes = sorted(ord(c) for c in characters)
    ranges: list[tuple[int, int]] = []
    for code in codes:
        if ranges and code == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], code)
        else:
            ranges.append((code, code))
    parts = [
        _in_class(chr(low)) if low == high else f"{_in_class(chr(low))}-{_in_class(chr(high))}"
        for low, high in ranges
    ]
    return "[" + "".join(parts) + "]"


def _in_class(character: str) -> str:
    # Escaped only where a class needs it, so that the pattern reads the same in
    # ECMA-262 (JSON Schema), Python and Rust.
    return "\\" + character if character in "\\[]^-" else character


def _strings_other_than(names: frozenset[str], length: int) -> str:
    """Keys of exactly ``length`` characters equal to none of ``names`` (all of
    that length), without lookahead: each differs from them at a first position."""
    any_key = _character_class(_KEY_CHARACTERS)
    alternatives = []
    for position in range(length):
        prefixes = {name[:position] for name in names}
        for prefix in sorted(prefixes):
            following = {name[position] for name in names if name.startswith(prefix)}
            rest = length - position - 1
            alternatives.append(
                prefix
                + _character_class(_KEY_CHARACTERS - following)
                + (f"{any_key}{{{rest}}}" if rest else "")
            )
    return "|".join(alternatives)


def _key_other_than(*names: str) -> str:
    """A metadata key that is none of ``names``, as a regular expression
    without lookahead (which not every JSON Schema generator takes)."""
    any_key = _character_class(_KEY_CHARACTERS)
    lengths = sorted({len(name) for name in names})
    alternatives = []
    shortest = 1
    for length in lengths:
        if length > shortest:
            alternatives.append(f"{any_key}{{{shortest},{length - 1}}}")
        same = frozenset(name for name in names if len(name) == length)
        alternatives.append(_strings_other_than(same, length))
        shortest = length + 1
    alternatives.append(f"{any_key}{{{shortest},}}")
    return "(?:" + "|".join(alternatives) + ")"


_METADATA_VALUE = _character_class(_KEY_CHARACTERS) + "*"
UPLOAD_METADATA = (
    f"^sha256 {BLOB_ID_BASE64}(?:,pow(?: {_METADATA_VALUE})?)?"
    f"(?:,{_key_other_than('sha256', 'pow')}(?: {_METADATA_VALUE})?)?$"
)
"""``Upload-Metadata``: ``sha256 <base64 of the blob id>``, then ``pow`` (§6)
and one other ``key value`` pair. The server also takes the members in
another order and more of the others (allowed and ignored), but no key
twice: a pattern cannot say "distinct keys", so it names these."""

_TUS_RESUMABLE = header_parameter(
    "Tus-Resumable",
    {"type": "string", "enum": [TUS_RESUMABLE]},
    "the tus version of the request; anything else is `412 tus-version-unsupported`",
)
_WHOLE = {"type": "integer", "minimum": 0, "maximum": 10**19 - 1}

_TUS_ERROR_HEADERS = tus_headers()
_EXPIRES = ({"type": "string"}, "when an unfinished upload expires (an HTTP date)", False)
_OFFSET = ({"type": "integer", "minimum": 0}, "the bytes the server holds", True)


def _tus_problems(*codes: str) -> dict[int | str, dict[str, Any]]:
    responses = problems("tus-version-unsupported", *codes, headers=_TUS_ERROR_HEADERS)
    responses[412]["headers"]["Tus-Version"] = {
        "required": True,
        "description": "the tus versions this server speaks",
        "schema": {"type": "string", "enum": [TUS_RESUMABLE]},
    }
    return responses


TUS_OPTIONS: dict[str, Any] = {
    "responses": {
        204: {
            "description": "what this tus server supports",
            "headers": tus_headers(
                Tus_Version=({"type": "string", "enum": [TUS_RESUMABLE]}, "versions", True),
                Tus_Extension=(
                    {"type": "string", "enum": ["creation,termination,expiration"]},
                    "extensions",
                    True,
                ),
                Tus_Max_Size=(
                    {"type": "integer", "minimum": 0},
                    "the largest blob, in bytes",
                    True,
                ),
            ),
        },
        **problems(),
    },
}
"""``OPTIONS /api/v1/uploads/``: the decorator's ``responses``."""

TUS_CREATE: dict[str, Any] = {
    "responses": {
        201: {
            "description": "the upload is created (an upload of 0 bytes is finished at once)",
            "headers": tus_headers(
                Location=(
                    {"type": "string", "pattern": "^/api/v1/uploads/[A-Za-z0-9_-]{16,64}$"},
                    "the upload's URL, relative",
                    True,
                ),
                Upload_Offset=_OFFSET,
                Upload_Expires=_EXPIRES,
            ),
        },
        **_tus_problems(
            "malformed-upload",
            "blob-too-large",
            "upload-quota-exceeded",
            "upload-hash-mismatch",
            *POW_CODES,
        ),
    },
    "openapi_extra": {
        "parameters": [
            _TUS_RESUMABLE,
            header_parameter(
                "Upload-Length",
                {"type": "integer", "minimum": 0},
                "the blob's length in bytes, at most the server's `Tus-Max-Size` "
                "(`413 blob-too-large`); `Upload-Defer-Length` is refused",
            ),
            header_parameter(
                "Upload-Metadata",
                {"type": "string", "pattern": UPLOAD_METADATA},
                "`sha256 <standard base64 of the blob id's 64 hex digits>`, and "
                '`pow <base64 of "<challenge>:<nonce>">` when the server asks for work '
                "(§6, §8); other `key value` pairs are allowed and ignored",
            ),
        ]
    },
}
"""``POST /api/v1/uploads/``: the decorator's ``responses`` and ``openapi_extra``."""

_UPLOAD_STATE = tus_headers(
    Upload_Offset=_OFFSET,
    Upload_Length=({"type": "integer", "minimum": 0}, "the blob's length", True),
    Upload_Expires=_EXPIRES,
)

TUS_HEAD: dict[str, Any] = {
    "responses": {
        200: {"description": "the upload's offset and length", "headers": _UPLOAD_STATE},
        **_tus_problems("upload-not-found", "upload-expired"),
    },
    "openapi_extra": {"parameters": [_TUS_RESUMABLE]},
}
"""``HEAD /api/v1/uploads/{upload_id}``."""

TUS_PATCH: dict[str, Any] = {
    "responses": {
        204: {
            "description": "the bytes are appended; the blob is verified with its last byte",
            "headers": _UPLOAD_STATE,
        },
        **_tus_problems(
            "unsupported-media-type",
            "malformed-upload",
            "upload-not-found",
            "upload-expired",
            "upload-offset-mismatch",
            "upload-length-exceeded",
            "upload-hash-mismatch",
            "upload-busy",
        ),
    },
    "openapi_extra": {
        "parameters": [
            _TUS_RESUMABLE,
            header_parameter(
                "Upload-Offset",
                _WHOLE,
                "where the bytes go: the upload's offset (else `409 upload-offset-mismatch`)",
            ),
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/offset+octet-stream": {
                    "schema": {"type": "string", "format": "binary"}
                }
            },
        },
    },
}
"""``PATCH /api/v1/uploads/{upload_id}``."""

TUS_DELETE: dict[str, Any] = {
    "responses": {
        204: {"description": "the upload is removed", "headers": tus_headers()},
        **_tus_problems("upload-not-found"),
    },
    "openapi_extra": {"parameters": [_TUS_RESUMABLE]},
}
"""``DELETE /api/v1/uploads/{upload_id}``."""

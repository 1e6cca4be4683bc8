"""The log's HTTP interface (docs/protocol.md §9).

| request | answer |
| --- | --- |
| ``GET /api/v1/log/checkpoint`` | the latest checkpoint, ``text/plain`` |
| ``GET /api/v1/log/key`` | the verifier key string, ``text/plain`` |
| ``GET /api/v1/log/proof/inclusion?id=<hex>&size=<n>`` | ``{"index", "size", "path"}`` |
| ``GET /api/v1/log/proof/consistency?from=<m>&to=<n>`` | ``{"from", "to", "path"}`` |
| ``GET /api/v1/log/entries?start=<i>&end=<j>`` | ``{"entries": [b64u...]}``, a bounded page |
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import PlainTextResponse

from testimony.crypto.encoding import b64u_encode
from testimony.service.server import Server

from .deps import get_server
from .openapi import problems
from .schemas import HEX_ID, ConsistencyProof, Entries, InclusionProof

router = APIRouter(prefix="/api/v1/log", tags=["log"])

ServerDep = Annotated[Server, Depends(get_server)]
TEXT = "text/plain; charset=utf-8"

# Schema only: a size or index out of range is `400 bad-tree-range` (the
# domain's), not a validation error; FastAPI checks the type alone.
INDEX: dict[str, Any] = {"minimum": 0}
SIZE: dict[str, Any] = {"minimum": 1}


@router.get("/checkpoint", response_class=PlainTextResponse, responses=problems())
def get_checkpoint(server: ServerDep) -> PlainTextResponse:
    """The latest signed checkpoint (a C2SP signed note)."""
    return PlainTextResponse(server.log_view.checkpoint(), media_type=TEXT)


@router.get("/key", response_class=PlainTextResponse, responses=problems())
def get_key(server: ServerDep) -> PlainTextResponse:
    """The log's verifier key: `<name>+<hex key hash>+<base64(0x01 || public key)>`."""
    return PlainTextResponse(server.log_view.verifier_key + "\n", media_type=TEXT)


@router.get(
    "/proof/inclusion",
    response_model=InclusionProof,
    responses=problems("invalid-request", "bad-tree-range", "entry-not-found"),
)
def get_inclusion(
    server: ServerDep,
    entry_id: Annotated[
        str, Query(alias="id", description="hex entry id", json_schema_extra={"pattern": HEX_ID})
    ],
    size: Annotated[
        int, Query(description="tree size, above the entry's index", json_schema_extra=SIZE)
    ],
) -> dict[str, Any]:
    """The RFC 9162 inclusion proof of an entry in the tree of `size` entries."""
    proof = server.log_view.inclusion(entry_id, size)
    return {"index": proof.index, "size": proof.size, "path": [node.hex() for node in proof.path]}


@router.get(
    "/proof/consistency",
    response_model=ConsistencyProof,
    response_model_by_alias=True,
    responses=problems("invalid-request", "bad-tree-range"),
)
def get_consistency(
    server: ServerDep,
    first: Annotated[
        int, Query(alias="from", description="the smaller tree size", json_schema_extra=SIZE)
    ],
    second: Annotated[
        int, Query(alias="to", description="the larger tree size", json_schema_extra=SIZE)
    ],
) -> dict[str, Any]:
    """The RFC 9162 consistency proof between the trees of `from` and `to` entries."""
    proof = server.log_view.consistency(first, second)
    return {"from": proof.first, "to": proof.second, "path": [node.hex() for node in proof.path]}


@router.get(
    "/entries", response_model=Entries, responses=problems("invalid-request", "bad-tree-range")
)
def get_entries(
    server: ServerDep,
    start: Annotated[int, Query(description="first index", json_schema_extra=INDEX)],
    end: Annotated[int, Query(description="one past the last index", json_schema_extra=SIZE)],
) -> dict[str, Any]:
    """Entries `[start, end)`, for auditors; at most the server's page size at once."""
    return {"entries": [b64u_encode(entry) for entry in server.log_view.entries(start, end)]}

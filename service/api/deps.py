"""What a route needs from the application: the wired server (``server.Server``),
and the rule every integer parameter of the API follows (:func:`decimal_integers`)."""

from __future__ import annotations

import re
import types
import typing
from typing import Any

from fastapi import Request

from testimony.service.domain.errors import InvalidRequest
from testimony.service.server import Server

__all__ = ["decimal_integers", "get_server"]

_DECIMAL = re.compile(r"-?[0-9]+")


async def get_server(request: Request) -> Server:
    """The server this application was created with.

    ``async`` although it awaits nothing: FastAPI runs a plain ``def``
    dependency in a worker thread, a hand-off that costs more than the
    request's own work on a small route.
    """
    server: Server = request.app.state.server
    return server


def _is_integer(annotation: Any) -> bool:
    if annotation is int:
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return int in typing.get_args(annotation)
    return False


async def decimal_integers(request: Request) -> None:
    """Refuse an integer query or path parameter not written in decimal digits.

    FastAPI reads ``1.0``, ``+1``, `` 1`` and ``1_0`` as the integer 1; the
    protocol's integers are decimal digits, with a sign for a negative one (a
    negative size is the domain's to refuse). An application-wide dependency,
    so that every route's integers follow the one rule. Raises
    :class:`InvalidRequest` (400 ``invalid-request``).
    """
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if dependant is None:
        return
    for source, fields in (
        (request.query_params, dependant.query_params),
        (request.path_params, dependant.path_params),
    ):
        for field in fields:
            if not _is_integer(field.field_info.annotation):
                continue
            name = field.alias or field.name
            values = source.getlist(name) if hasattr(source, "getlist") else [source.get(name)]
            for value in values:
                if value is not None and not _DECIMAL.fullmatch(value):
                    raise InvalidRequest(f"`{name}` is an integer in decimal digits")

"""What a route needs from the application: the wired server (``domain.setup.Server``)."""

from __future__ import annotations

from fastapi import Request

from testimony.service.server import Server

__all__ = ["get_server"]


async def get_server(request: Request) -> Server:
    """The server this application was created with.

    ``async`` although it awaits nothing: FastAPI runs a plain ``def``
    dependency in a worker thread, a hand-off that costs more than the
    request's own work on a small route.
    """
    server: Server = request.app.state.server
    return server

"""What a route needs from the application: the wired server (``domain.setup.Server``)."""

from __future__ import annotations

from fastapi import Request

from testimony.service.domain.setup import Server

__all__ = ["get_server"]


def get_server(request: Request) -> Server:
    """The server this application was created with."""
    server: Server = request.app.state.server
    return server

"""The UI's queue pages (docs/workstation.md, "The web UI")."""

from __future__ import annotations

from starlette.routing import BaseRoute

__all__ = ["ROUTES"]

ROUTES: list[BaseRoute] = []

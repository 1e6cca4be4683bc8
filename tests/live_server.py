"""A real ``testimony serve`` process for end-to-end tests: the launcher the
benchmarks use too (``testimony.service.testing``)."""

from __future__ import annotations

from testimony.service.testing import LiveServer, ServerDidNotStart, free_port, start_server

__all__ = ["LiveServer", "ServerDidNotStart", "free_port", "start_server"]

STARTUP_DEADLINE = 30.0

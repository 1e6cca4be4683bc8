"""Schemathesis hooks for test_schemathesis.py (named in schemathesis.toml).

A tus PATCH body is ``application/offset+octet-stream`` (docs/protocol.md §6):
bytes, sent as schemathesis sends ``application/octet-stream``.
"""

from __future__ import annotations

import schemathesis

schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")

"""The organisation's public log, read for ``testimony verify --log``
(docs/protocol.md §9, §11): from the server (``GET /api/v1/log/entries``, a
thousand entries a request) or from a file holding one b64u entry per line,
in log order from entry 0 — what the route's ``entries`` list, written one
per line, gives::

    for start in 0 1000 2000; do
      curl -s "$URL/api/v1/log/entries?start=$start&end=$((start + 1000))" | jq -r '.entries[]'
    done > log.txt

(the last page's ``end`` no further than the log's size). Nothing here is
trusted: the verifier rebuilds the bundle's and the receipt's checkpoints
from the leaf hashes before it reads a single entry.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from testimony.crypto.encoding import b64u_decode
from testimony.crypto.errors import CryptoError

from ..errors import ClientError
from ..http import ServerClient

__all__ = ["PAGE", "LogUnreadable", "reader"]

PAGE = 1000
"""Entries ``GET /api/v1/log/entries`` answers at most (§9)."""
MAX_LINE = 1 << 20
"""The longest entry line a log file may hold (an entry is far shorter)."""


class LogUnreadable(Exception):
    """The log given could not be read (the message says why)."""


def reader(source: str) -> Callable[[int], list[bytes]]:
    """A function giving the log's first ``n`` entries (fewer if the log
    holds fewer) from ``source``: an ``http(s)://`` server URL or a file."""
    if source.startswith(("http://", "https://")):
        return lambda n: _from_server(source, n)
    return lambda n: _from_file(Path(source), n)


def _from_server(url: str, n: int) -> list[bytes]:
    entries: list[bytes] = []
    try:
        with ServerClient(url) as client:
            for start in range(0, n, PAGE):
                end = min(n, start + PAGE)
                page = client.get_json(
                    "/api/v1/log/entries",
                    what="the log's entries",
                    params={"start": start, "end": end},
                )
                listed = page.get("entries") if isinstance(page, dict) else None
                if not isinstance(listed, list) or len(listed) != end - start:
                    raise LogUnreadable(f"{url} did not answer entries {start} to {end - 1}")
                entries.extend(b64u_decode(item) for item in listed)
    except (ClientError, CryptoError, TypeError) as error:
        raise LogUnreadable(f"{url}: {error}") from None
    return entries


def _from_file(path: Path, n: int) -> list[bytes]:
    entries: list[bytes] = []
    try:
        with open(path, "rb") as handle:
            for number, line in enumerate(handle, start=1):
                if len(entries) == n:
                    break
                if len(line) > MAX_LINE:
                    raise LogUnreadable(f"{path}: line {number} is too long for an entry")
                text = line.strip()
                if text:
                    entries.append(b64u_decode(text.decode("ascii")))
    except OSError as error:
        raise LogUnreadable(f"{path}: {error.strerror or error}") from None
    except (UnicodeDecodeError, CryptoError):
        raise LogUnreadable(f"{path}: a line is not one b64u entry") from None
    return entries

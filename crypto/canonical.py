"""Canonical JSON (docs/protocol.md §0): RFC 8785, the JSON Canonicalization Scheme.

Every JSON object that is hashed or signed — log entries, manifests, form
definitions, signed requests — is serialised with :func:`dumps`. The work is
done by the maintained ``rfc8785`` library; this module only fixes the error
type.

>>> dumps({"b": [1, 2.5, "é"], "a": None})
b'{"a":null,"b":[1,2.5,"\\xc3\\xa9"]}'
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

from .errors import MalformedInput

__all__ = ["dumps", "loads"]


def dumps(obj: Any) -> bytes:
    """Serialise ``obj`` with RFC 8785 (JCS) and return the UTF-8 bytes.

    Raises :class:`MalformedInput` for values JSON cannot represent exactly
    (NaN, infinities, integers beyond IEEE 754 doubles' exact range, non-string
    keys, lone surrogates).
    """
    try:
        return rfc8785.dumps(obj)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise MalformedInput(f"not canonical JSON: {exc.__class__.__name__}") from exc


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError("a member name appears twice")
        result[key] = value
    return result


def loads(data: bytes | str) -> Any:
    """Parse JSON strictly: UTF-8, no duplicate member names, no ``NaN`` or
    ``Infinity``. Every reader of protocol JSON from outside uses this, so a
    request means one thing to every part of the system.

    Raises :class:`MalformedInput` for anything else.

    >>> loads(b'{"a": [1, 2.5]}')
    {'a': [1, 2.5]}
    >>> loads(b'{"a": 1, "a": 2}')
    Traceback (most recent call last):
    ...
    testimony.crypto.errors.MalformedInput: not well-formed JSON
    """
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise MalformedInput("not well-formed JSON") from None

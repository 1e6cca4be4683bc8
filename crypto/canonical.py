"""Canonical JSON (PROTOCOL.md §0): RFC 8785, the JSON Canonicalization Scheme.

Every JSON object that is hashed or signed — log entries, manifests, form
definitions, signed requests — is serialised with :func:`dumps`. The work is
done by the maintained ``rfc8785`` library; this module only fixes the error
type.

>>> dumps({"b": [1, 2.5, "é"], "a": None})
b'{"a":null,"b":[1,2.5,"\\xc3\\xa9"]}'
"""

from __future__ import annotations

from typing import Any

import rfc8785

from .errors import MalformedInput

__all__ = ["dumps"]


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

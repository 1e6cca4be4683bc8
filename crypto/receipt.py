"""Receipt codes and witness keys (docs/protocol.md §7).

The witness's device makes a receipt code: 20 decimal digits from a CSPRNG,
shown as ``1234-5678-9012-3456-7890`` and never sent to the server. Argon2id
stretches it into the witness's Ed25519 signing key (which authenticates
follow-ups) and S1 private seed (which opens reviewers' replies)::

    seed = Argon2id(password = the 20 digits as ASCII, salt = "testimony/v1 receipt",
                    iterations = 3, lanes = 1, memory = 65536 KiB, length = 64)
    ed25519 private seed = seed[0:32];  S1 private key = seed[32:64]

>>> code = normalise("1234 5678 9012 3456 7890")
>>> code
ReceiptCode(<redacted>)
>>> code.grouped
'1234-5678-9012-3456-7890'
>>> keys = derive(code)
>>> keys.witness_b64u
'dCz7N8zkn2MTq2TGc49jJqtzRC205CLJ06egB7EfyZI'
>>> len(new_code().grouped)
24
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from . import hpke
from .encoding import b64u_encode
from .errors import ReceiptCodeError

__all__ = ["ReceiptCode", "WitnessKeys", "derive", "new_code", "normalise"]

DIGITS = 20
SALT = b"testimony/v1 receipt"
ARGON2_ITERATIONS = 3
ARGON2_LANES = 1
ARGON2_MEMORY_KIB = 65536
SEED_LENGTH = 64

# Grouped by 4 with hyphens or with single spaces, or 20 digits in a row;
# ASCII digits only (str.isdigit would admit other scripts' digits).
_ACCEPTED = re.compile(r"[0-9]{4}(?:-[0-9]{4}){4}|[0-9]{4}(?: [0-9]{4}){4}|[0-9]{20}")
_LIMIT = 10**DIGITS
# Rejection sampling over 9 random bytes keeps every code equally likely.
_SAMPLE_BYTES = 9
_SAMPLE_CEILING = (256**_SAMPLE_BYTES // _LIMIT) * _LIMIT


@dataclass(frozen=True)
class ReceiptCode:
    """A receipt code. Its ``repr`` never shows the digits."""

    digits: str = field(repr=False)

    def __post_init__(self) -> None:
        if (
            not isinstance(self.digits, str)
            or len(self.digits) != DIGITS
            or not self.digits.isascii()
            or not self.digits.isdigit()
        ):
            raise ReceiptCodeError()

    def __repr__(self) -> str:
        return "ReceiptCode(<redacted>)"

    __str__ = __repr__

    @property
    def grouped(self) -> str:
        """The code as shown to the witness: ``1234-5678-9012-3456-7890``."""
        return "-".join(self.digits[i : i + 4] for i in range(0, DIGITS, 4))


@dataclass(frozen=True)
class WitnessKeys:
    """The keys a receipt code derives. ``repr`` shows the public halves only."""

    signing_key: Ed25519PrivateKey = field(repr=False)
    box_seed: bytes = field(repr=False)
    witness: bytes  # Ed25519 public key, 32 bytes (the request's `witness`)
    witness_box: bytes = field(repr=False)  # S1 public key, 1216 bytes

    @property
    def witness_b64u(self) -> str:
        """``witness`` as sent in a submission (b64u)."""
        return b64u_encode(self.witness)

    @property
    def witness_box_b64u(self) -> str:
        """``witness_box`` as sent in a submission (b64u)."""
        return b64u_encode(self.witness_box)


def new_code(*, random_bytes: Callable[[int], bytes] = os.urandom) -> ReceiptCode:
    """A fresh receipt code of 20 uniformly random decimal digits.

    ``random_bytes`` is the CSPRNG (``os.urandom``); tests may inject another.
    """
    while True:
        sample = int.from_bytes(random_bytes(_SAMPLE_BYTES), "big")
        if sample < _SAMPLE_CEILING:
            return ReceiptCode(f"{sample % _LIMIT:0{DIGITS}d}")


def normalise(code: str | ReceiptCode) -> ReceiptCode:
    """Parse a code as a witness may type it.

    Accepts the 20 digits grouped by 4 with hyphens or single spaces, or in a
    row, with surrounding white space. Raises :class:`ReceiptCodeError` for
    anything else (wrong length, letters, other scripts' digits, mixed
    separators). The error never repeats the input.
    """
    if isinstance(code, ReceiptCode):
        return code
    if not isinstance(code, str):
        raise ReceiptCodeError()
    text = code.strip()
    if _ACCEPTED.fullmatch(text) is None:
        raise ReceiptCodeError()
    return ReceiptCode(text.replace("-", "").replace(" ", ""))


def derive(code: str | ReceiptCode) -> WitnessKeys:
    """The witness's Ed25519 key and S1 seed of a receipt code (§7).

    Costs one Argon2id run (64 MiB, about a third of a second).
    """
    digits = normalise(code).digits.encode("ascii")
    seed = Argon2id(
        salt=SALT,
        length=SEED_LENGTH,
        iterations=ARGON2_ITERATIONS,
        lanes=ARGON2_LANES,
        memory_cost=ARGON2_MEMORY_KIB,
    ).derive(digits)
    signing_key = Ed25519PrivateKey.from_private_bytes(seed[:32])
    box_seed = seed[32:]
    return WitnessKeys(
        signing_key=signing_key,
        box_seed=box_seed,
        witness=signing_key.public_key().public_bytes_raw(),
        witness_box=hpke.public_key(box_seed),
    )

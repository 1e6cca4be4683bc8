"""The reviewers' cryptography (docs/protocol.md §12): pure, no I/O.

- **Identities** (§12.1): a reviewer holds an Ed25519 ``sign_key`` and an S1
  ``box_key``; the reviewer id is ``hex(H(sign_key public bytes))[:32]``.
- **Signed entries** (§12.2): the signature covers ``JCS(entry without
  "signature" and "received")``.
- **Sessions** (§12.8): the login signature covers ``JCS({"challenge",
  "reviewer"})``.
- **The keyring** (§12.5): the group secret ``G`` of an epoch and the intake
  seeds reach a reviewer in a ``grant``, sealed to the reviewer's box key with
  ``info = "testimony/v1 grant"``.
- **Blind indexes** (§12.6): ``K_b = HKDF(G, salt = "", info = "testimony/v1
  blind index")``; an index is the top ``bits`` bits of ``HMAC-SHA256(K_b,
  JCS([kind, normalised value]))``.
- **Sealed payloads** (§12.6, §12.7): ``K = HKDF(G, salt = the entry's 16-byte
  nonce, info)``, ``sealed = AES-256-GCM(K, 12 zero bytes, pad(JCS(payload)))``
  — ``info`` is ``"testimony/v1 annotation"`` for annotations, exports and
  shreds, ``"testimony/v1 redaction salts"`` for an export's salts. Each key
  seals once: disclosing it opens that one entry and nothing else.
- **Redactions** (§11): ``commitment = hex(H(salt || JCS(value)))``.

>>> key = group_key(bytes(32), bytes(16))
>>> sealed = seal_payload(key, {"v": 1, "kind": "tag", "tag": "arson"})
>>> open_payload(key, sealed)
{'kind': 'tag', 'tag': 'arson', 'v': 1}
>>> normalise("  ARSON\\u00a0 and\\tlooting ")
'arson and looting'
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from . import canonical, hpke, padding, signing
from .encoding import b64u_decode, b64u_encode, sha256
from .errors import MalformedInput, PayloadOpenError

__all__ = [
    "ANNOTATION_INFO",
    "BLIND_INDEX_INFO",
    "DEFAULT_INDEX_BITS",
    "GRANT_INFO",
    "GROUP_SECRET_LENGTH",
    "NONCE_LENGTH",
    "SALTS_INFO",
    "Grant",
    "Identity",
    "blind_index",
    "blind_index_key",
    "group_key",
    "index_values",
    "normalise",
    "open_grant",
    "open_payload",
    "redaction_commitment",
    "reviewer_id",
    "seal_grant",
    "seal_payload",
    "session_signing_bytes",
    "signing_bytes",
]

GROUP_SECRET_LENGTH = 32
NONCE_LENGTH = 16
"""An entry's ``nonce``: 16 fresh random bytes (b64u in the entry)."""
ANNOTATION_INFO = b"testimony/v1 annotation"
SALTS_INFO = b"testimony/v1 redaction salts"
BLIND_INDEX_INFO = b"testimony/v1 blind index"
GRANT_INFO = b"testimony/v1 grant"
DEFAULT_INDEX_BITS: Mapping[str, int] = {"tag": 5, "place": 5, "incident": 8}
"""§12.6's default widths; a kind without bits is not indexed."""
_ZERO_NONCE = bytes(12)
_UNSIGNED = frozenset({"signature", "received"})


def reviewer_id(sign_public: bytes) -> str:
    """``hex(H(sign_key public bytes))[:32]`` (§12.1)."""
    if not isinstance(sign_public, bytes) or len(sign_public) != 32:
        raise MalformedInput("an Ed25519 public key is 32 bytes")
    return sha256(sign_public).hex()[:32]


@dataclass(frozen=True)
class Identity:
    """A reviewer's two key pairs, from their 32-byte seeds (§12.1)."""

    sign_seed: bytes = field(repr=False)
    box_seed: bytes = field(repr=False)

    def __post_init__(self) -> None:
        for name in ("sign_seed", "box_seed"):
            value = getattr(self, name)
            if not isinstance(value, bytes) or len(value) != 32:
                raise MalformedInput(f"`{name}` is 32 bytes")

    @property
    def sign_public(self) -> bytes:
        return signing.public_key_bytes(signing.private_key_from_seed(self.sign_seed))

    @property
    def box_public(self) -> bytes:
        return hpke.public_key(self.box_seed)

    @property
    def id(self) -> str:
        """The reviewer id, also the fingerprint compared out of band."""
        return reviewer_id(self.sign_public)

    def sign(self, message: bytes) -> bytes:
        return signing.sign(signing.private_key_from_seed(self.sign_seed), message)

    def sign_entry(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        """``entry`` with its §12.2 ``signature`` (b64u)."""
        unsigned = {k: v for k, v in entry.items() if k not in _UNSIGNED}
        return {**unsigned, "signature": b64u_encode(self.sign(signing_bytes(unsigned)))}


def signing_bytes(entry: Mapping[str, Any]) -> bytes:
    """What a §12.2 signature covers: ``JCS(entry without "signature" and "received")``."""
    if not isinstance(entry, Mapping):
        raise MalformedInput("an entry is a JSON object")
    return canonical.dumps({k: v for k, v in entry.items() if k not in _UNSIGNED})


def session_signing_bytes(challenge: str, reviewer: str) -> bytes:
    """What a §12.8 login signature covers: ``JCS({"challenge", "reviewer"})``."""
    return canonical.dumps({"challenge": challenge, "reviewer": reviewer})


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    if not isinstance(ikm, bytes) or len(ikm) != GROUP_SECRET_LENGTH:
        raise MalformedInput("a group secret is 32 bytes")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def group_key(group_secret: bytes, nonce: bytes, info: bytes = ANNOTATION_INFO) -> bytes:
    """``K = HKDF-SHA256(G, salt = nonce, info)``: the key of one sealed payload."""
    if not isinstance(nonce, bytes) or len(nonce) != NONCE_LENGTH:
        raise MalformedInput("an entry's nonce is 16 bytes")
    return _hkdf(group_secret, nonce, info)


def blind_index_key(group_secret: bytes) -> bytes:
    """``K_b = HKDF-SHA256(G, salt = "", info = "testimony/v1 blind index")``."""
    return _hkdf(group_secret, b"", BLIND_INDEX_INFO)


def normalise(value: str) -> str:
    """NFKC, case-folded, trimmed, inner white space collapsed to one space (§12.6)."""
    if not isinstance(value, str):
        raise MalformedInput("an indexed value is a string")
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


def blind_index(key: bytes, kind: str, value: str, bits: int) -> int:
    """The top ``bits`` bits of ``HMAC-SHA256(K_b, JCS([kind, normalise(value)]))``."""
    if not isinstance(bits, int) or isinstance(bits, bool) or not 1 <= bits <= 32:
        raise MalformedInput("an index is 1 to 32 bits wide")
    digest = hmac.new(key, canonical.dumps([kind, normalise(value)]), hashlib.sha256).digest()
    return int.from_bytes(digest, "big") >> (256 - bits)


def seal_payload(key: bytes, payload: Mapping[str, Any]) -> str:
    """``b64u(AES-256-GCM(key, 12 zero bytes, pad(JCS(payload))))``; each key seals once."""
    plaintext = padding.pad(canonical.dumps(dict(payload)))
    return b64u_encode(AESGCM(key).encrypt(_ZERO_NONCE, plaintext, None))


def open_payload(key: bytes, sealed: str) -> dict[str, Any]:
    """The payload of a sealed field. Raises :class:`PayloadOpenError` if it
    does not open or is not a JSON object."""
    try:
        plaintext = AESGCM(key).decrypt(_ZERO_NONCE, b64u_decode(sealed), None)
        value = canonical.loads(padding.unpad_body(plaintext))
    except (InvalidTag, MalformedInput, ValueError):
        raise PayloadOpenError() from None
    if not isinstance(value, dict):
        raise PayloadOpenError("a sealed payload is a JSON object")
    return value


@dataclass(frozen=True)
class Grant:
    """What a §12.5 grant carries: every epoch's group secret up to the
    grant's, and every intake seed the organisation has used."""

    groups: Mapping[int, bytes] = field(repr=False)
    intake: Mapping[str, bytes] = field(repr=False)

    def plaintext(self) -> bytes:
        return canonical.dumps(
            {
                "v": 1,
                "groups": [
                    {"epoch": epoch, "group": b64u_encode(secret)}
                    for epoch, secret in sorted(self.groups.items())
                ],
                "intake": [
                    {"key_id": key_id, "seed": b64u_encode(seed)}
                    for key_id, seed in sorted(self.intake.items())
                ],
            }
        )


def seal_grant(subject_box_public: bytes, grant: Grant) -> str:
    """``b64u(Seal_S1(subject's box_key, "testimony/v1 grant", JCS(grant)))``."""
    return b64u_encode(hpke.seal(subject_box_public, GRANT_INFO, grant.plaintext()))


def open_grant(box_seed: bytes, sealed: str) -> Grant:
    """Open a grant with the subject's box seed. Raises ``HPKEOpenError`` if
    it is not sealed to that key and :class:`MalformedInput` if what it holds
    is not a grant."""
    value = canonical.loads(hpke.open(box_seed, GRANT_INFO, b64u_decode(sealed)))
    try:
        if (
            not isinstance(value, dict)
            or value.get("v") != 1
            or set(value)
            != {
                "v",
                "groups",
                "intake",
            }
        ):
            raise MalformedInput("a grant is {v: 1, groups, intake}")
        groups = {int(g["epoch"]): b64u_decode(g["group"]) for g in value["groups"]}
        intake = {str(i["key_id"]): b64u_decode(i["seed"]) for i in value["intake"]}
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedInput("a grant is {v: 1, groups, intake}") from exc
    if any(len(secret) != GROUP_SECRET_LENGTH for secret in groups.values()) or any(
        len(seed) != hpke.SEED_LENGTH for seed in intake.values()
    ):
        raise MalformedInput("a grant's secrets and seeds are 32 bytes")
    for key_id, seed in intake.items():
        if hpke.key_id(hpke.public_key(seed)) != key_id:
            raise MalformedInput("a grant's intake seed does not match its key id")
    return Grant(groups=groups, intake=intake)


def redaction_commitment(salt: bytes, value: Any) -> str:
    """``hex(H(salt || JCS(value)))`` for a withheld answer or file (§11)."""
    if not isinstance(salt, bytes) or len(salt) != 16:
        raise MalformedInput("a redaction salt is 16 bytes")
    return sha256(salt + canonical.dumps(value)).hex()


def index_values(
    key: bytes, values: Sequence[tuple[str, str]], widths: Mapping[str, int]
) -> list[int]:
    """The sorted, distinct blind indexes of ``(kind, value)`` pairs; kinds
    without a width are not indexed."""
    return sorted(
        {blind_index(key, kind, value, widths[kind]) for kind, value in values if kind in widths}
    )

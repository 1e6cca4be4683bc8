"""The workstation's directory and the reviewer's identity in it.

A workstation directory (``--workstation DIR``; by default
``$XDG_DATA_HOME/testimony/workstation``, else
``~/.local/share/testimony/workstation``) is private to its user (mode
0700) and holds::

    identity.json   the reviewer's Ed25519 and S1 seeds (§12.1), sealed under
                    the passphrase (``testimony.crypto.keyfile``); the public
                    keys and the reviewer id beside them, in the clear

Nothing in it is readable without the passphrase but what is public anyway.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from testimony.crypto import keyfile
from testimony.crypto.encoding import b64u_decode, b64u_encode
from testimony.crypto.errors import CryptoError, MalformedInput
from testimony.crypto.keyring import Identity

__all__ = [
    "IDENTITY_FILE",
    "IDENTITY_LABEL",
    "PublicIdentity",
    "WorkstationError",
    "create_identity",
    "default_home",
    "fingerprint",
    "read_public_identity",
    "unlock_identity",
]

IDENTITY_FILE = "identity.json"
IDENTITY_LABEL = "testimony reviewer identity"
_DIR_MODE = 0o700
_FILE_MODE = 0o600


class WorkstationError(Exception):
    """An error of the workstation's own, with a stable ``code``."""

    code = "workstation-error"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


def default_home() -> Path:
    """``$XDG_DATA_HOME/testimony/workstation``, else ``~/.local/share/testimony/workstation``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "testimony" / "workstation"


def _private_dir(home: Path) -> None:
    home.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
    os.chmod(home, _DIR_MODE)


def _write_new(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file of mode 0600, durably; never overwrite."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class PublicIdentity:
    """What anyone may know of a reviewer: the id and both public keys."""

    id: str
    sign_key: bytes
    box_key: bytes


def create_identity(
    home: Path,
    passphrase: str,
    *,
    cost: keyfile.Cost = keyfile.DEFAULT_COST,
    random_bytes: Callable[[int], bytes] = os.urandom,
) -> PublicIdentity:
    """Make a reviewer's keys in ``home`` (§12.1), sealed under ``passphrase``.

    Raises :class:`WorkstationError` (``identity-exists``) if ``home`` holds
    one already: nothing is overwritten.
    """
    _private_dir(home)
    path = home / IDENTITY_FILE
    if path.exists():
        raise WorkstationError(
            f"{path} holds a reviewer identity already; nothing was overwritten", "identity-exists"
        )
    identity = Identity(random_bytes(32), random_bytes(32))
    public = PublicIdentity(identity.id, identity.sign_public, identity.box_public)
    sealed = keyfile.seal(
        {"sign_seed": b64u_encode(identity.sign_seed), "box_seed": b64u_encode(identity.box_seed)},
        passphrase,
        label=IDENTITY_LABEL,
        public={
            "reviewer": public.id,
            "sign_key": b64u_encode(public.sign_key),
            "box_key": b64u_encode(public.box_key),
        },
        cost=cost,
        random_bytes=random_bytes,
    )
    try:
        _write_new(path, sealed)
    except FileExistsError:
        raise WorkstationError(f"{path} appeared meanwhile; nothing was overwritten") from None
    return public


def _read(home: Path) -> bytes:
    path = home / IDENTITY_FILE
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise WorkstationError(
            f"{home} holds no reviewer identity (run `testimony reviewer new`)", "no-identity"
        ) from None


def read_public_identity(home: Path) -> PublicIdentity:
    """The reviewer id and public keys, without the passphrase."""
    try:
        label, public = keyfile.public_part(_read(home))
        if label != IDENTITY_LABEL:
            raise MalformedInput("not an identity")
        found = PublicIdentity(
            str(public["reviewer"]), b64u_decode(public["sign_key"]), b64u_decode(public["box_key"])
        )
    except (KeyError, TypeError, CryptoError):
        raise WorkstationError(
            f"{home / IDENTITY_FILE} is damaged: it is no reviewer identity", "identity-damaged"
        ) from None
    return found


def unlock_identity(home: Path, passphrase: str) -> Identity:
    """The reviewer's keys. Raises ``KeyfileError`` (``wrong-passphrase``) for a
    wrong passphrase or an altered file, and :class:`WorkstationError` for a
    missing or damaged one."""
    data = _read(home)
    try:
        secret = keyfile.open_(data, passphrase)
        identity = Identity(b64u_decode(secret["sign_seed"]), b64u_decode(secret["box_seed"]))
    except keyfile.KeyfileError:
        raise
    except (KeyError, TypeError, CryptoError):
        raise WorkstationError(
            f"{home / IDENTITY_FILE} is damaged: it is no reviewer identity", "identity-damaged"
        ) from None
    if identity.id != read_public_identity(home).id:
        raise WorkstationError(
            f"{home / IDENTITY_FILE} is damaged: its keys do not match its id", "identity-damaged"
        )
    return identity


def fingerprint(reviewer_id: str) -> str:
    """The reviewer id in groups of four, to read aloud and compare out of band."""
    return " ".join(reviewer_id[i : i + 4] for i in range(0, len(reviewer_id), 4))

"""What the reviewers' commands share (``workstation/cli.py`` registers them).

Each module of this package holds one audience's commands and a
``register(app, ...)`` that ``workstation.cli.register`` calls with one line;
a command parses its options, opens the workstation (:func:`opened`), calls
one function of ``workstation/`` and prints. Errors are one line
(:func:`errors`): ``testimony: <message> (<code>)`` and exit status 1, the
server's refusals with the problem document's own ``code``.

The passphrase comes from ``--passphrase-file`` (its first line), else the
environment variable ``TESTIMONY_PASSPHRASE``, else a prompt on the terminal.
It is never echoed, logged or written.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import sqlcipher3
import typer

from testimony.client.console import fail, one_line_errors
from testimony.client.errors import ClientError, ServerRefused
from testimony.crypto.errors import CryptoError
from testimony.crypto.keyring import Identity

from .. import home as homes
from ..cache import CACHE_FILE, Cache
from ..text import marked

__all__ = [
    "MIN_PASSPHRASE",
    "PASSPHRASE_ENV",
    "LogKeyOption",
    "Opened",
    "PassphraseFile",
    "ServerOption",
    "WorkstationDir",
    "errors",
    "home_of",
    "opened",
    "read_passphrase",
    "say",
]

PASSPHRASE_ENV = "TESTIMONY_PASSPHRASE"  # noqa: S105 - the variable's name
MIN_PASSPHRASE = 10
"""Characters a new passphrase needs at least (a long phrase beats a short password)."""

WorkstationDir = Annotated[
    Path | None,
    typer.Option(
        "--workstation",
        help="The workstation directory (default: ~/.local/share/testimony/workstation).",
        show_default=False,
    ),
]
PassphraseFile = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file",
        help=f"Read the passphrase from this file's first line (else ${PASSPHRASE_ENV}, else a prompt).",
        show_default=False,
    ),
]
ServerOption = Annotated[
    str,
    typer.Option("--server", help="The organisation's server, e.g. https://intake.example.org."),
]
LogKeyOption = Annotated[
    str | None,
    typer.Option(
        "--log-key",
        help="The log's verifier key, as the operator's `testimony log-key` prints it "
        "(else the server's is trusted on first use).",
        show_default=False,
    ),
]


def say(text: object, *, err: bool = False) -> None:
    """Print a line that may hold what a witness or a reviewer wrote: each
    control, bidi or invisible character shown as ``⟦U+202E⟧`` (an escape
    sequence in a statement cannot reach the terminal; a name cannot be
    reversed on screen)."""
    typer.echo(marked(str(text)), err=err)


def home_of(workstation: Path | None) -> Path:
    """The workstation directory: the one given, else the default."""
    return workstation if workstation is not None else homes.default_home()


def read_passphrase(source: Path | None, *, new: bool = False) -> str:
    """The passphrase from the file, the environment or the terminal."""
    if source is not None:
        lines = source.read_text(encoding="utf-8").splitlines()
        passphrase = lines[0] if lines else ""
    elif os.environ.get(PASSPHRASE_ENV):
        passphrase = os.environ[PASSPHRASE_ENV]
    elif sys.stdin.isatty():
        passphrase = getpass.getpass("passphrase: ")
        if new and getpass.getpass("the same passphrase again: ") != passphrase:
            raise fail("the two passphrases differ; nothing was written", "passphrase-mismatch")
    else:
        raise fail(
            f"no passphrase: give --passphrase-file or {PASSPHRASE_ENV}, or run on a terminal",
            "no-passphrase",
        )
    if new and len(passphrase) < MIN_PASSPHRASE:
        raise fail(
            f"a new passphrase has at least {MIN_PASSPHRASE} characters; nothing was written",
            "passphrase-too-short",
        )
    if not passphrase:
        raise fail("the passphrase is empty", "no-passphrase")
    return passphrase


@contextlib.contextmanager
def errors() -> Iterator[None]:
    """The workstation's, the crypto's and the client's errors as the one-line
    error; a server's refusal with its problem ``code`` (docs/reviewers-api.md);
    a page of the encrypted cache that fails its check as ``cache-damaged``."""
    with one_line_errors(homes.WorkstationError, CryptoError, ClientError):
        try:
            yield
        except ServerRefused as refused:
            raise fail(
                f"{refused.what}: the server answered {refused.status}", refused.problem
            ) from None
        except sqlcipher3.OperationalError as error:
            if "locked" not in str(error) and "busy" not in str(error):
                raise
            raise fail(
                "the workstation's cache is in use by another `testimony` command; try again "
                "once it is done",
                "cache-busy",
            ) from None
        except sqlcipher3.DatabaseError as error:
            if type(error) is not sqlcipher3.DatabaseError:
                raise  # a query of ours that is wrong: a bug, not the file
            # SQLITE_CORRUPT or SQLITE_NOTADB on a page read after the cache opened: SQLCipher
            # checks each page's HMAC, so an altered or truncated page fails here.
            raise fail(
                f"the workstation's cache ({CACHE_FILE}) is damaged: a page of it fails its "
                "integrity check. Nothing was changed; restore the workstation directory from "
                "a backup, or make a new one and sync it",
                "cache-damaged",
            ) from None


@dataclass(frozen=True)
class Opened:
    """An unlocked workstation: its directory, the reviewer's keys, the open cache."""

    home: Path
    identity: Identity
    cache: Cache


@contextlib.contextmanager
def opened(workstation: Path | None, passphrase_file: Path | None) -> Iterator[Opened]:
    """Unlock the identity with the passphrase and open the cache (closed after)."""
    home = home_of(workstation)
    homes.read_public_identity(home)  # no identity: say so before asking a passphrase
    identity = homes.unlock_identity(home, read_passphrase(passphrase_file))
    cache = Cache(home, identity)
    try:
        yield Opened(home, identity, cache)
    finally:
        cache.close()

"""The reviewers' commands, gathered under the one ``testimony`` command.

::

    testimony reviewer new  [--workstation DIR] [--passphrase-file FILE]
    testimony reviewer show [--workstation DIR]

The passphrase comes from ``--passphrase-file`` (its first line), else the
environment variable ``TESTIMONY_PASSPHRASE``, else a prompt on the terminal
(asked twice for a new identity). It is never echoed, logged or written.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from testimony.client.console import fail, one_line_errors
from testimony.crypto.errors import CryptoError

from . import home as homes

__all__ = ["register"]

PASSPHRASE_ENV = "TESTIMONY_PASSPHRASE"  # noqa: S105 - the variable's name
MIN_PASSPHRASE = 10
"""Characters a new passphrase needs at least (a long phrase beats a short password)."""

reviewer_app = typer.Typer(
    no_args_is_help=True,
    help="The reviewer's identity on this workstation (docs/protocol.md §12.1).",
)

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


def register(app: typer.Typer) -> None:
    """Add the reviewers' commands to the ``testimony`` command."""
    app.add_typer(reviewer_app, name="reviewer")


def _home(workstation: Path | None) -> Path:
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


def _errors() -> contextlib.AbstractContextManager[None]:
    """The workstation's errors and the crypto's as the one-line error."""
    return one_line_errors(homes.WorkstationError, CryptoError)


@reviewer_app.command("new")
def reviewer_new(
    workstation: WorkstationDir = None, passphrase_file: PassphraseFile = None
) -> None:
    """Create your reviewer keys (Ed25519 and S1), sealed under a passphrase.

    Prints your reviewer id: read it out to an admin over a channel you both
    trust, so that they approve this key and no other.
    """
    home = _home(workstation)
    with _errors():
        passphrase = read_passphrase(passphrase_file, new=True)
        public = homes.create_identity(home, passphrase)
    typer.echo(f"reviewer id: {homes.fingerprint(public.id)}")
    typer.echo(f"keys sealed in {home / homes.IDENTITY_FILE}")
    typer.echo(
        "Compare this id with the admins out of band before they approve you. "
        "Without the passphrase nobody, you included, can use these keys."
    )


@reviewer_app.command("show")
def reviewer_show(workstation: WorkstationDir = None) -> None:
    """Print this workstation's reviewer id (no passphrase needed)."""
    with _errors():
        public = homes.read_public_identity(_home(workstation))
    typer.echo(f"reviewer id: {homes.fingerprint(public.id)}")

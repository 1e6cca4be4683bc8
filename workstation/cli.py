"""The reviewers' commands, gathered under the one ``testimony`` command.

::

    testimony reviewer new  [--workstation DIR] [--passphrase-file FILE]
    testimony reviewer show [--workstation DIR]

and, from ``workstation/commands/`` (one module per audience, each registered
here with one line): ``org init``, ``reviewer invite|enrol|approve|revoke|list``
(``commands/org.py``), ``keys grant`` (``commands/keys.py``), ``sync``
(``commands/sync.py``).

The passphrase comes from ``--passphrase-file`` (its first line), else the
environment variable ``TESTIMONY_PASSPHRASE``, else a prompt on the terminal
(asked twice for a new identity). It is never echoed, logged or written.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import typer

from testimony.client.console import one_line_errors
from testimony.crypto.errors import CryptoError

from . import home as homes
from .commands import (
    MIN_PASSPHRASE,
    PASSPHRASE_ENV,
    PassphraseFile,
    WorkstationDir,
    home_of,
    read_passphrase,
)
from .commands import export as export_commands
from .commands import incident as incident_commands
from .commands import keys as keys_commands
from .commands import org as org_commands
from .commands import review as review_commands
from .commands import sync as sync_commands
from .commands import ui as ui_commands

__all__ = ["MIN_PASSPHRASE", "PASSPHRASE_ENV", "read_passphrase", "register"]

reviewer_app = typer.Typer(
    no_args_is_help=True,
    help="The reviewer: identity, enrolment and standing (docs/protocol.md §12.1, §12.4).",
)


def register(app: typer.Typer) -> None:
    """Add the reviewers' commands to the ``testimony`` command."""
    app.add_typer(reviewer_app, name="reviewer")
    org_commands.register(app, reviewer_app)
    keys_commands.register(app)
    sync_commands.register(app)
    review_commands.register(app)
    incident_commands.register(app)
    ui_commands.register(app)
    export_commands.register(app)


def _home(workstation: Path | None) -> Path:
    return home_of(workstation)


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

"""The keyring's commands (docs/protocol.md §12.5; docs/workstation.md)::

    testimony keys grant ID [--workstation DIR] [--passphrase-file FILE]
    testimony keys rotate [--workstation DIR] [--passphrase-file FILE]

A key holder seals every group secret up to the current epoch and every
intake seed this workstation holds to the reviewer's box key, as its
``reviewer`` entry in the synced log names it. The receiving side is
``testimony sync``, which opens the grants addressed to its reviewer.
"""

from __future__ import annotations

from typing import Annotated

import typer

from .. import org
from ..home import fingerprint
from ..sync import sync_log
from . import PassphraseFile, WorkstationDir, errors, opened

__all__ = ["register"]

keys_app = typer.Typer(
    no_args_is_help=True,
    help="The organisation's keyring: group secrets and intake seeds (docs/protocol.md §12.5).",
)


def register(app: typer.Typer) -> None:
    """Add ``keys grant`` and ``keys rotate`` to the ``testimony`` command."""
    app.add_typer(keys_app, name="keys")


@keys_app.command("grant")
def keys_grant(
    target: Annotated[
        str,
        typer.Argument(metavar="ID", help="The reviewer's id (its fingerprint, spaces allowed)."),
    ],
    workstation: WorkstationDir = None,
    passphrase_file: PassphraseFile = None,
) -> None:
    """Give a reviewer with standing the keyring (key holders).

    Refused, with nothing sent, while the reviewer's enrolment has not
    reached its quorum.
    """
    with (
        errors(),
        opened(workstation, passphrase_file) as ws,
        org.bound_client(ws.cache, ws.identity) as client,
    ):
        sync_log(ws.cache, client)
        governance = org.replay(ws.cache).governance
        receipt = org.grant(ws.cache, client, ws.identity, governance, target)
        epoch = governance.epoch
        seeds = len(ws.cache.intake_seeds())
        subject = org.reviewer_id_of(target)
    typer.echo(
        f"granted the group secret up to epoch {epoch} and {seeds} intake key(s) to "
        f"{fingerprint(subject)}, logged at index {receipt['index']}."
    )
    typer.echo("They read it with `testimony sync`.")


@keys_app.command("rotate")
def keys_rotate(
    workstation: WorkstationDir = None,
    passphrase_file: PassphraseFile = None,
) -> None:
    """After a revocation: a new intake key (in effect once the admins' quorum
    approves it) and a new epoch of the group secret for everyone with standing.

    The revoked reviewer keeps what it held, and gets nothing new.
    """
    with (
        errors(),
        opened(workstation, passphrase_file) as ws,
        org.bound_client(ws.cache, ws.identity) as client,
    ):
        sync_log(ws.cache, client)
        governance = org.replay(ws.cache).governance
        rotated = org.rotate(ws.cache, client, ws.identity, governance)
        needed = governance.policy.quorum("rotate") if governance.policy else 1
        admins = len(governance.admins())
    typer.echo(f"proposed intake key {rotated.key_id}, logged at index {rotated.receipt['index']}.")
    if min(needed, admins) > 1:
        typer.echo(
            f"It takes effect once {min(needed, admins)} admins approve it: "
            f"`testimony reviewer approve {rotated.receipt['id']}`."
        )
    if rotated.epoch is None:
        typer.echo("No revocation since the epoch began: the group secret stays.")
    else:
        typer.echo(
            f"granted epoch {rotated.epoch} of the group secret to {len(rotated.granted)} "
            "reviewer(s); they read it with `testimony sync`."
        )

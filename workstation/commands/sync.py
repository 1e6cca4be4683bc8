"""``testimony sync [--workstation DIR] [--passphrase-file FILE]``: the log,
verified, and everything this reviewer may read, opened into the encrypted
cache (``workstation/sync.py``; docs/workstation.md "Sync"). Progress is drawn
on stderr; the summary is printed on stdout.
"""

from __future__ import annotations

import typer

from testimony.client.console import fail, progress

from .. import org
from ..sync import sync
from . import PassphraseFile, WorkstationDir, errors, opened

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``sync`` to the ``testimony`` command."""
    app.command("sync")(sync_command)


def sync_command(
    workstation: WorkstationDir = None, passphrase_file: PassphraseFile = None
) -> None:
    """Bring the organisation's log and what you may read into this workstation.

    The log is verified against the pinned log key and the last checkpoint
    seen; a fork stops everything and keeps both checkpoints as evidence.
    An interrupted sync is taken up by the next.
    """
    with (
        errors(),
        opened(workstation, passphrase_file) as ws,
        org.bound_client(ws.cache, ws.identity) as client,
        progress() as update,
    ):
        report = sync(ws.cache, client, ws.identity, progress=update)
        member = None
        if report.role is None:
            member = org.replay(ws.cache).governance.members.get(ws.identity.id)
    revoked = member is not None and member.revoked
    log = report.log
    typer.echo(f"log: {log.size} entries, {log.new} new; checkpoint and history verified")
    if log.malformed:
        typer.echo(f"warning: {log.malformed} new entries are no entry of the protocol")
    if report.ignored:
        typer.echo(
            f"warning: {len(report.ignored)} logged entries break §12's rules and were ignored"
        )
    if revoked:
        typer.echo("standing: revoked")
    elif report.role is None:
        typer.echo("standing: none yet (an enrolment waits for the admins' approval)")
    else:
        typer.echo(f"standing: {report.role}")
    typer.echo(
        f"read: {report.submissions} testimonies, {report.followups} follow-ups, "
        f"{report.annotations} annotations, {report.grants} grants; "
        f"{report.blobs} attachments fetched"
    )
    if report.unreadable:
        reasons = ", ".join(f"{n} {why}" for why, n in sorted(report.unreadable.items()))
        typer.echo(f"not readable yet: {reasons} (tried again once the keyring grows)")
    if report.blob_failures:
        typer.echo(f"warning: {report.blob_failures} attachments could not be fetched (next sync)")
    if revoked:
        raise fail(
            "this reviewer's key is revoked: the server serves it no testimony and takes no "
            "entry from it (the log was synced; the cache keeps what it held)",
            "revoked",
        )

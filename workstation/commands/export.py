"""``testimony export``: an evidence bundle for one recipient (docs/protocol.md
§11; ``workstation/export.py``)::

    testimony export --workstation DIR (--incident ID | --testimony ID...) --profile NAME
                     --out PATH [--zip] [--to AGE_RECIPIENT]... [--passphrase-file FILE]

``--profile`` is one of the workstation's profiles (``prosecutor``,
``un_treaty_body``, ``media``) or a profile's ``.json`` file; ``--out`` is the
folder (or, with ``--zip``, the ZIP; with ``--to``, the ZIP encrypted with age
to each recipient) to write, which must not exist. Progress is drawn on
stderr on a terminal; what was written is printed on stdout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from testimony.client.console import progress

from .. import org
from ..export import export, load_profile, profile_names
from . import PassphraseFile, WorkstationDir, errors, opened, say

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``export`` to the ``testimony`` command."""
    app.command("export")(export_command)


def export_command(
    profile: Annotated[
        str,
        typer.Option(
            "--profile",
            help=f"Who it is for: {', '.join(profile_names())}, or a profile's .json file.",
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", help="The bundle to write (a new folder, or ZIP with --zip).")
    ],
    testimony: Annotated[
        list[str] | None,
        typer.Option(
            "--testimony", help="A testimony's id, or its first 6 or more hex digits; repeatable."
        ),
    ] = None,
    incident: Annotated[
        list[str] | None,
        typer.Option(
            "--incident", help="An incident: its record and every testimony linked to it."
        ),
    ] = None,
    zip_output: Annotated[
        bool, typer.Option("--zip", help="Write the bag as one ZIP file.")
    ] = False,
    to: Annotated[
        list[str] | None,
        typer.Option(
            "--to", help="Encrypt the ZIP with age to this recipient (age1..., ssh-ed25519 ...)."
        ),
    ] = None,
    pdf: Annotated[
        bool,
        typer.Option(
            "--pdf",
            help="Also write report.pdf, the report as PDF (slow for long statements: minutes "
            "for a megabyte of text).",
        ),
    ] = False,
    workstation: WorkstationDir = None,
    passphrase_file: PassphraseFile = None,
) -> None:
    """Export testimonies, with their custody and proofs, as an evidence bundle.

    Each witness's consent must include the profile's recipient. The export is
    itself logged (an `export` entry committing to the bundle's manifest), and
    the bundle carries its receipt: check it with `testimony verify`.
    """
    with errors():
        chosen = load_profile(profile)
        with (
            opened(workstation, passphrase_file) as ws,
            org.bound_client(ws.cache, ws.identity) as client,
            progress() as update,
        ):
            done = export(
                ws.cache,
                ws.identity,
                client,
                profile=chosen,
                out=out,
                testimonies=testimony or [],
                incidents=incident or [],
                zip_output=zip_output,
                recipients=to or [],
                pdf=pdf,
                progress=update,
            )
    say(f"bundle {done.bundle_id} written to {done.path}")
    say(
        f"{len(done.testimonies)} testimonies, {len(done.followups)} follow-ups, "
        f"{len(done.incidents)} incidents, {done.files} files, {done.events} custody events; "
        f"proofs to the checkpoint of {done.checkpoint} entries"
    )
    say(f"the export is logged at index {done.export_index}; check it with `testimony verify`")

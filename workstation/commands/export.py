"""``testimony export``: an evidence bundle for one recipient (docs/protocol.md
§11; ``workstation/export.py``)::

    testimony export --workstation DIR (--incident ID | --testimony ID...) --profile NAME
                     --out PATH [--zip] [--to AGE_RECIPIENT]... [--pdf]
                     [--release TESTIMONY/N]... [--passphrase-file FILE]

``--profile`` is one of the workstation's profiles (``prosecutor``,
``un_treaty_body``, ``media``) or a profile's ``.json`` file; ``--out`` is the
folder (or, with ``--zip``, the ZIP; with ``--to``, the ZIP encrypted with age
to each recipient) to write, which must not exist. ``--release`` releases one
file by name under a profile that withholds files unless released (``media``). Progress is drawn on
stderr on a terminal; what was written is printed on stdout.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from testimony.client.console import progress
from testimony.crypto import canonical

from .. import org
from ..export import (
    Exported,
    discard,
    disclose,
    export,
    held_exports,
    load_profile,
    profile_names,
    release,
    waiting,
)
from . import PassphraseFile, WorkstationDir, errors, opened, say

__all__ = ["register"]


exports_app = typer.Typer(
    help="Exports held for approval (four eyes): list, release once approved, discard.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add ``export`` and ``exports list|release|discard`` to the ``testimony`` command."""
    app.command("export")(export_command)
    app.add_typer(exports_app, name="exports")


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
    release: Annotated[
        list[str] | None,
        typer.Option(
            "--release",
            help="For a profile that withholds files (media): release this one, as TESTIMONY/N "
            "(N as `testimony review show` numbers it); repeatable.",
        ),
    ] = None,
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
                releases=release or [],
                progress=update,
            )
    if done.proposal is not None:
        say(
            f"the export is logged at index {done.export_index} as a proposal: the policy asks "
            f"{done.needed} admins to approve it, and it has {done.approvals}"
        )
        say(f"the bag is held (not yet at {done.path}); another admin approves it with:")
        say(f"  testimony reviewer approve {done.proposal}")
        say(f"then release it here with: testimony exports release {done.proposal[:16]}")
        return
    say(f"bundle {done.bundle_id} written to {done.path}")
    say(
        f"{len(done.testimonies)} testimonies, {len(done.followups)} follow-ups, "
        f"{len(done.incidents)} incidents, {done.files} files, {done.events} custody events; "
        f"proofs to the checkpoint of {done.checkpoint} entries"
    )
    if done.withheld:
        say(
            f"{done.withheld} answers or files withheld for {chosen.recipient}, each listed in "
            "bundle.json with a commitment; free text (statements, follow-ups, translations) is "
            "released as written"
        )
    say(f"the export is logged at index {done.export_index}; check it with `testimony verify`")


def _written(done: Exported) -> None:
    say(f"bundle {done.bundle_id} written to {done.path}")
    say(
        f"{len(done.testimonies)} testimonies, {done.files} files, approved by {done.approvals} "
        f"admins of the {done.needed} the policy asks; check it with `testimony verify`"
    )


@exports_app.command("list")
def exports_list(
    workstation: WorkstationDir = None,
    passphrase_file: PassphraseFile = None,
) -> None:
    """The exports held here until approved, and those awaiting approval (sync first)."""
    with errors(), opened(workstation, passphrase_file) as ws:
        held = held_exports(ws.cache)
        asked = [(p, said) for p, said in waiting(ws.cache) if p.id not in {h.id for h in held}]
    if not held:
        say("no export is held on this workstation")
    for item in held:
        state = (
            "approved: release it"
            if item.effective
            else f"{item.approvals} of {item.needed} approvals"
        )
        where = "" if item.present else " — its held bag is missing"
        say(
            f"{item.id[:16]}  {item.profile} for {item.recipient}, {item.testimonies} "
            f"testimonies, to {item.out}: {state}{where}"
        )
    for proposal, said in asked:
        say(f"{proposal.id[:16]}  awaiting approval: {said}")
        say(f"  an admin approves it with: testimony reviewer approve {proposal.id}")


@exports_app.command("release")
def exports_release(
    target: Annotated[
        str, typer.Argument(metavar="ID", help="The export's entry id, or its first hex digits.")
    ],
    workstation: WorkstationDir = None,
    passphrase_file: PassphraseFile = None,
) -> None:
    """Write a held export's bundle once other admins have approved it."""
    with (
        errors(),
        opened(workstation, passphrase_file) as ws,
        org.bound_client(ws.cache, ws.identity) as client,
        progress() as update,
    ):
        done = release(ws.cache, client, target, progress=update)
    _written(done)


@exports_app.command("discard")
def exports_discard(
    target: Annotated[
        str, typer.Argument(metavar="ID", help="The export's entry id, or its first hex digits.")
    ],
    workstation: WorkstationDir = None,
    passphrase_file: PassphraseFile = None,
) -> None:
    """Remove a held export's bag; its entry stays in the log, never released."""
    with errors(), opened(workstation, passphrase_file) as ws:
        entry_id = discard(ws.cache, target)
    say(f"export {entry_id[:16]} discarded: its held bag is removed")


@exports_app.command("disclose")
def exports_disclose(
    bundle: Annotated[Path, typer.Argument(help="The bundle (its folder, ZIP or age file).")],
    out: Annotated[
        Path,
        typer.Option("--out", help="The disclosure to write (JSON; it holds what was withheld)."),
    ],
    identity: Annotated[
        Path | None,
        typer.Option("--identity", help="The age identity file that opens an encrypted bundle."),
    ] = None,
    workstation: WorkstationDir = None,
    passphrase_file: PassphraseFile = None,
) -> None:
    """Write what a bundle withheld, with the salts that prove it (a full disclosure, under seal).

    The recipient checks it with `testimony verify BUNDLE --disclosure FILE`.
    It holds the withheld answers and files' keys: hand it over as the court orders.
    """
    with errors(), opened(workstation, passphrase_file) as ws:
        disclosed = disclose(ws.cache, bundle, identity=identity)
        descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(canonical.dumps(disclosed))
    say(
        f"{len(disclosed['items'])} withheld items of bundle {disclosed['bundle']} written to {out}"
    )

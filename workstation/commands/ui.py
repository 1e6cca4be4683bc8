"""``testimony workstation ui [--workstation DIR] [--passphrase-file FILE]
[--port N] [--no-browser] [--lock-after MINUTES] [--lang en|ru]``: the
reviewer's web UI on 127.0.0.1 (``workstation/ui/``; docs/workstation.md,
"The web UI"). Unlocks with the passphrase, opens the browser on a one-use
launch URL (or prints it with ``--no-browser``), serves until Ctrl-C.
"""

from __future__ import annotations

import contextlib
import sys
import webbrowser
from typing import Annotated

import typer

from testimony.client.console import fail

from .. import home as homes
from . import PassphraseFile, WorkstationDir, errors, home_of, read_passphrase

__all__ = ["register"]

workstation_app = typer.Typer(
    no_args_is_help=True, help="The reviewer's workstation: its web UI (docs/workstation.md)."
)


def register(app: typer.Typer) -> None:
    """Add ``workstation`` to the ``testimony`` command."""
    app.add_typer(workstation_app, name="workstation")


@workstation_app.command("ui")
def ui_command(
    workstation: WorkstationDir = None,
    passphrase_file: PassphraseFile = None,
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="The port (default: a free one).")
    ] = 0,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Print the URL instead of opening a browser.")
    ] = False,
    lock_after: Annotated[
        float,
        typer.Option(
            "--lock-after",
            min=0.1,
            help="Lock after this many idle minutes (the passphrase unlocks).",
        ),
    ] = 15,
    lang: Annotated[
        str, typer.Option("--lang", help="The UI's language: en or ru (switchable in the UI).")
    ] = "en",
) -> None:
    """Serve the reviewer's web UI on 127.0.0.1, over the encrypted cache.

    The URL it opens holds a one-use secret: it gives this browser a session
    cookie and stops working. Locking (the button, or LOCK-AFTER idle
    minutes) closes the cache; the passphrase unlocks again. Ctrl-C stops it.
    """
    from ..ui import render
    from ..ui.app import Desk
    from ..ui.server import bind, serve

    if lang not in render.LANGUAGES:
        raise fail(f"--lang is one of {', '.join(render.LANGUAGES)}", "unknown-language")
    home = home_of(workstation)
    with errors():
        homes.read_public_identity(home)
        identity = homes.unlock_identity(home, read_passphrase(passphrase_file))
        desk = Desk(home, identity, idle_seconds=lock_after * 60, lang=lang)
        try:
            sock = bind(port)
        except OSError as error:
            desk.lock_now()
            raise fail(
                f"cannot listen on 127.0.0.1:{port}: {error.strerror}", "port-busy"
            ) from None

    def ready(url: str) -> None:
        typer.echo(f"the workstation's UI is at {url}", err=True)
        typer.echo("this URL works once; Ctrl-C stops the UI and locks the workstation", err=True)
        if not no_browser:
            webbrowser.open(url)
        sys.stderr.flush()

    with contextlib.suppress(KeyboardInterrupt):  # uvicorn raises Ctrl-C again once stopped
        serve(desk, sock, ready=ready)
    typer.echo("stopped; the workstation is locked", err=True)

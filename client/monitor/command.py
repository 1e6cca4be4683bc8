"""``testimony monitor``: a witness and a monitor of a Testimony log
(docs/monitor.md)::

    testimony monitor witness-key --name NAME --out FILE
    testimony monitor witness --key FILE --log ORIGIN=VKEY [--log ...] --state DIR
                              --listen HOST:PORT
    testimony monitor watch --server URL --log-key KEY --state DIR [--once]
                            [--interval S] [--witness VKEY]...

``witness-key`` prints the witness's verifier key (type ``0x04``), the line
an organisation pins. ``witness`` prints one line once it listens and serves
until Ctrl-C. ``watch`` prints what each pass found; a fork is the line
``testimony: FORK: ... (log-fork)`` on stderr and exit status 3; any other
error is the one-line error and exit status 1 (with ``--once``; otherwise it
is printed and the next pass tried).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from testimony.crypto import cosignature
from testimony.crypto import note as notes
from testimony.crypto.errors import CryptoError

from ..console import fail, first_line, one_line_errors
from . import watch as watching
from . import witness as witnessing
from .files import lock_folder, private_folder

__all__ = ["FORK_EXIT", "app", "register"]

FORK_EXIT = 3
"""The exit status of ``watch`` when it found a fork."""

app = typer.Typer(
    name="monitor",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Witness and monitor a Testimony log (C2SP tlog-witness, docs/protocol.md §13).",
)


def register(parent: typer.Typer) -> None:
    """Add ``monitor`` and its commands to the ``testimony`` command."""
    parent.add_typer(app, name="monitor")


@app.command("witness-key")
def witness_key_command(
    name: Annotated[
        str, typer.Option("--name", help="The witness's name, such as witness.example.org/w1.")
    ],
    out: Annotated[Path, typer.Option("--out", help="The private key file to create (0600).")],
) -> None:
    """Make a witness key; print its verifier key (type 0x04), to publish."""
    with one_line_errors():
        signer = witnessing.new_key(name, out)
    typer.echo(str(signer.key))


@app.command("witness")
def witness_command(
    key: Annotated[Path, typer.Option("--key", help="The witness's key file (witness-key).")],
    log: Annotated[
        list[str],
        typer.Option("--log", help="A log to cosign: ORIGIN=VKEY (its verifier key); repeat."),
    ],
    state: Annotated[Path, typer.Option("--state", help="The witness's state folder.")],
    listen: Annotated[
        str, typer.Option("--listen", help="HOST:PORT to serve on (port 0: a free one).")
    ] = "127.0.0.1:7380",
) -> None:
    """Serve POST /add-checkpoint (C2SP tlog-witness) until Ctrl-C."""
    with one_line_errors():
        signer = witnessing.load_key(key)
        logs: dict[str, list[str]] = {}
        for spec in log:
            origin, vkey = witnessing.parse_log(spec)
            logs.setdefault(origin, []).append(vkey)
        host, port = witnessing.parse_listen(listen)
        private_folder(state)
        with lock_folder(state):
            witness = witnessing.Witness(signer, logs, state)

            def ready(url: str) -> None:
                typer.echo(f"witness {signer.key} cosigns {len(logs)} logs at {url}")

            witnessing.serve(witness, host, port, ready=ready)


@app.command("watch")
def watch_command(
    server: Annotated[str, typer.Option("--server", help="The Testimony server's URL.")],
    log_key: Annotated[
        str, typer.Option("--log-key", help="The log's verifier key, from the organisation.")
    ],
    state: Annotated[Path, typer.Option("--state", help="The monitor's state folder.")],
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit.")] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=1.0, help="Seconds between passes.")
    ] = 300.0,
    witness: Annotated[
        list[str] | None,
        typer.Option("--witness", help="A witness's verifier key, to count its cosignatures."),
    ] = None,
) -> None:
    """Check the log's checkpoints for consistency and replay its governance."""
    try:
        notes.parse_verifier_key(log_key.strip())
    except CryptoError:
        raise fail("--log-key is the log's verifier key", "bad-log-key") from None
    try:
        witnesses = [cosignature.parse_cosigner_key(text) for text in witness or []]
    except CryptoError:
        raise fail(
            "a --witness is a witness's verifier key (type 0x04)", "bad-witness-key"
        ) from None
    while True:
        try:
            with one_line_errors():
                try:
                    found = watching.watch_once(server, log_key, state, witnesses=witnesses)
                except watching.Fork as fork:
                    fail(first_line(fork), fork.code)
                    raise typer.Exit(FORK_EXIT) from None
        except typer.Exit as stop:
            # The error is printed; without --once the next pass is tried, but a
            # fork always stops the monitor.
            if once or stop.exit_code == FORK_EXIT:
                raise
        else:
            for line in found.lines:
                typer.echo(line)
        if once:
            return
        time.sleep(interval)


def main() -> None:
    """``python -m testimony.client.monitor``: the same commands on their own."""
    app()

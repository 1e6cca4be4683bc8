"""The ``testimony`` command (Typer): one command for every audience, each
audience's commands in a module of its own. Commands stay thin: parse, call one
function, print one line. Errors print ``testimony: <message> (<code>)`` on one
line and exit non-zero, without a traceback (``testimony.client.console``).

| module | audience | commands |
| --- | --- | --- |
| ``service.cli.server`` | the server's operator | ``init``, ``serve``, ``log-key``, ``audit``, ``rebuild-projections``, ``raw``, ``intake-key new`` |
| ``service.cli.forms`` | the organisation | ``forms import``, ``offline-page`` |
| ``service.courier.cli`` | witnesses and couriers | ``seal``, ``upload``, ``followup``, ``replies`` |
| ``client.bundle.command`` | anyone holding a bundle | ``verify`` |
| ``client.monitor.command`` | witnesses and monitors of the log | ``monitor witness-key``, ``monitor witness``, ``monitor watch`` |
| ``workstation.cli`` | reviewers | ``reviewer new``, ``reviewer show`` (more with the reviewers' work) |

This module sits above the server and the clients alike and gathers their
commands; nothing imports it (``architecture.ini``).

::

    testimony init --data-dir DIR --intake-public-key FILE [--origin NAME]
    testimony serve --data-dir DIR [--host H] [--port P] [--database-url URL] [--pow-bits N]
    testimony log-key --data-dir DIR
    testimony audit (--data-dir DIR | --database-url URL [--log-key KEY])
    testimony rebuild-projections (--data-dir DIR | --database-url URL)
    testimony raw ID --data-dir DIR --out FOLDER
    testimony intake-key new --private FILE --public FILE
    testimony seal --form FORM.json --intake-key KEY --out FILE.testimony [--answers A.json]
                   [--attach FILE]... [--lang L] [--share-with WHO]... [--contact]
    testimony upload FILE... --server URL [--log-key KEY]
    testimony followup --server URL --parent ID [--text T] [--attach FILE]...
    testimony replies --server URL
    testimony offline-page --form FORM.json --intake-key KEY --out PAGE.html [--lang L]...
    testimony forms import FILE.xlsx --out FORM.json
    testimony verify PATH [--identity FILE] [--log-key KEY] [--checkpoint NEWER.txt]
                     [--log URL|FILE] [--witness-key VKEY]... [--cosignatures N]
    testimony monitor witness-key --name NAME --out FILE
    testimony monitor witness --key FILE --log ORIGIN=VKEY [--log ...] --state DIR --listen HOST:PORT
    testimony monitor watch --server URL --log-key KEY --state DIR [--once] [--interval S] [--witness VKEY]...
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer

from testimony.client.bundle import command as bundle_cli
from testimony.client.console import error_code, fail, first_line
from testimony.client.monitor import command as monitor_cli
from testimony.service.courier import cli as courier_cli
from testimony.workstation import cli as workstation_cli

from . import forms as forms_cli
from . import server as server_cli

__all__ = ["app", "main"]

app = typer.Typer(
    name="testimony",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Testimony: secure, anonymous testimony intake for human-rights documentation.",
)


def package_version() -> str:
    try:
        return version("testimony")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"testimony {package_version()}")
        raise typer.Exit()


@app.callback()
def root(
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Testimony: secure, anonymous testimony intake for human-rights documentation."""


server_cli.register(app)
courier_cli.register(app)
bundle_cli.register(app)
monitor_cli.register(app)
forms_cli.register(app)
workstation_cli.register(app)


def main() -> None:
    """Entry point of the console script: no traceback ever reaches the user."""
    try:
        app()
    except Exception as exc:
        # An error raised on purpose carries a stable code; anything else is a bug
        # and keeps its traceback.
        code = error_code(exc)
        if code is None:
            raise
        fail(first_line(exc), code)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.echo("testimony: interrupted", err=True)
        sys.exit(130)

"""The ``testimony`` command (Typer). Commands stay thin: parse, call one
domain function, print one line. Errors print ``testimony: <message> (<code>)``
on one line and exit non-zero, without a traceback."""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer

from testimony.crypto.errors import CryptoError

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


def fail(message: str, code: str) -> typer.Exit:
    """Print the one-line error and return the exit to raise."""
    typer.echo(f"testimony: {message} ({code})", err=True)
    return typer.Exit(1)


def main() -> None:
    """Entry point of the console script: no traceback ever reaches the user."""
    try:
        app()
    except CryptoError as exc:
        typer.echo(f"testimony: {exc} ({exc.code})", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.echo("testimony: interrupted", err=True)
        sys.exit(130)

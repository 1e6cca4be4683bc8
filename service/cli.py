"""The ``testimony`` command."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Testimony: secure, anonymous testimony intake.")


def main() -> None:
    app()

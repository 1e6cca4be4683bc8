"""The workstation's commands, gathered under the one ``testimony`` command.

None is built yet; the group says so rather than pretending.
"""

from __future__ import annotations

import typer

__all__ = ["app"]

app = typer.Typer(
    name="workstation",
    no_args_is_help=False,
    invoke_without_command=True,
    help="The reviewers' workstation (not built yet: docs/protocol.md §12 describes it).",
)


@app.callback()
def workstation() -> None:
    """The reviewers' workstation: not built yet. Reviewers' commands land here."""
    typer.echo(
        "testimony: the reviewers' workstation is not built yet (see docs/protocol.md §12)",
        err=True,
    )
    raise typer.Exit(2)

"""The organisation's commands for questionnaires: ``forms import`` (XLSForm to
a docs/protocol.md §5 definition) and ``offline-page`` (the one-file sealing
page of a form).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from testimony.client.console import one_line_errors

__all__ = ["register"]

forms_app = typer.Typer(no_args_is_help=True, help="Form definitions (docs/protocol.md §5).")


def register(app: typer.Typer) -> None:
    """Add the forms commands to the ``testimony`` command."""
    app.add_typer(forms_app, name="forms")
    app.command("offline-page")(offline_page)


def offline_page(
    form: Annotated[Path, typer.Option("--form", help="The saved form definition (JSON).")],
    intake_key: Annotated[
        Path, typer.Option("--intake-key", help="File holding the b64u S1 intake public key.")
    ],
    out: Annotated[Path, typer.Option("--out", help="The page to write (PAGE.html).")],
    lang: Annotated[
        list[str] | None,
        typer.Option("--lang", help="A language to offer, the first shown (repeatable)."),
    ] = None,
) -> None:
    """Write the offline sealing page: one HTML file that seals envelopes from disk."""
    from testimony.forms import load_form
    from testimony.service.courier.seal import read_intake_key
    from testimony.service.web.offline import offline_page as make_page

    with one_line_errors():
        page = make_page(load_form(form.read_bytes()), read_intake_key(intake_key), lang)
        if out.exists():
            raise FileExistsError(f"{out} exists; choose another name")
        out.write_bytes(page.html)
    typer.echo(f"wrote {out} for intake key {page.intake_key_id} ({', '.join(page.languages)})")


@forms_app.command("import")
def forms_import(
    source: Annotated[Path, typer.Argument(metavar="FILE.xlsx", help="The XLSForm.")],
    out: Annotated[Path, typer.Option("--out", help="The form definition to write.")],
) -> None:
    """Convert an XLSForm into a docs/protocol.md §5 definition; print what was not carried over."""
    from testimony.forms.xlsform import run_import

    with one_line_errors():
        warnings = run_import(source, out)
    for line in warnings:
        typer.echo(f"warning: {line}")
    typer.echo(f"wrote {out}")

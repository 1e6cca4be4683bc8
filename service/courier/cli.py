"""The witness's and the courier's commands: ``seal``, ``upload``,
``followup`` and ``replies`` (docs/courier.md, docs/followups.md).

They are a client's: they reach the server over HTTP only (the layer
contract, ``architecture.ini``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from testimony.client.console import fail, one_line_errors, progress

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the courier's commands to the ``testimony`` command."""
    for command in (seal, upload, followup, replies):
        app.command()(command)


def seal(
    form: Annotated[Path, typer.Option("--form", help="The saved form definition (JSON).")],
    intake_key: Annotated[
        Path, typer.Option("--intake-key", help="File holding the b64u S1 intake public key.")
    ],
    out: Annotated[Path, typer.Option("--out", help="The envelope to write (FILE.testimony).")],
    answers: Annotated[
        Path | None,
        typer.Option("--answers", help='{"answers": {...}, "consent"?: {...}, "lang"?: "ru"}'),
    ] = None,
    attach: Annotated[
        list[Path] | None, typer.Option("--attach", help="A file to attach (repeatable).")
    ] = None,
    lang: Annotated[str | None, typer.Option("--lang", help="The witness's language.")] = None,
    share_with: Annotated[
        list[str] | None,
        typer.Option("--share-with", help="Consent: a recipient (repeatable), with --answers."),
    ] = None,
    contact: Annotated[
        bool, typer.Option("--contact", help="Consent: reviewers may ask follow-up questions.")
    ] = False,
) -> None:
    """Seal a testimony into an offline envelope (docs/protocol.md §4), with no network."""
    from testimony.crypto.hpke import key_id
    from testimony.forms import Consent, load_form

    from . import prompt
    from . import seal as sealing

    with one_line_errors():
        definition = load_form(form.read_bytes())
        public = sealing.read_intake_key(intake_key)
        files = list(attach or [])
        typer.echo(f"intake key id: {key_id(public)} (check it with the organisation)")
        if answers is not None:
            given = sealing.read_answers_file(answers)
            language = lang or given.lang or definition.languages[0]
            consent = given.consent or Consent(
                share_with=frozenset(share_with or ()), contact=contact
            )
            answer_values = given.answers
        else:
            language = lang or prompt.ask_language(definition, sys.stdin, sys.stdout)
            sealing.check_language_and_files(definition, language, files)
            try:
                interview = prompt.interview(
                    definition, language, stdin=sys.stdin, stdout=sys.stdout
                )
            except prompt.PromptAborted:
                raise fail("the questionnaire was left; nothing was written", "aborted") from None
            answer_values, consent = interview.answers, interview.consent
        sealing.check_inputs(definition, language, answer_values, files)
        total = sum(path.stat().st_size for path in files)
        with progress(in_bytes=True) as update:
            done = 0

            def advance(count: int) -> None:
                nonlocal done
                done += count
                update("sealing", done, total)

            sealed = sealing.seal_envelope(
                form=definition,
                intake_public_key=public,
                lang=language,
                answers=answer_values,
                consent=consent,
                attachments=files,
                out=out,
                progress=advance,
            )
    typer.echo(f"wrote {sealed.path} for intake key {sealed.intake_key_id}")
    typer.echo("")
    typer.echo(f"receipt code: {sealed.receipt_code.grouped}")
    typer.echo(
        "Write this code down now and keep it safe: it is shown only this once and "
        "is stored nowhere. With it the witness can add to the testimony later."
    )


def upload(
    files: Annotated[list[Path], typer.Argument(metavar="FILE...", help="Envelopes to deliver.")],
    server: Annotated[str, typer.Option("--server", help="The server's base URL.")],
    log_key: Annotated[
        str | None,
        typer.Option(
            "--log-key", help="The log verifier key to trust (default: pin on first use)."
        ),
    ] = None,
) -> None:
    """Deliver envelopes: upload, submit, verify and write FILE.receipt.json (one line each)."""
    from .upload import Courier

    failed = 0
    with (
        one_line_errors(),
        progress(in_bytes=True) as update,
        Courier(server, log_key=log_key, progress=update) as courier,
    ):
        for path in files:
            delivery = courier.deliver(path)
            if delivery.error is not None:
                failed += 1
                typer.echo(f"{path}: failed: {delivery.error} ({delivery.error.code})")
            elif delivery.status == "already":
                typer.echo(
                    f"{path}: ok {delivery.receipt_id} (already delivered; receipt verified)"
                )
            else:
                typer.echo(f"{path}: {delivery.status} {delivery.receipt_id}")
    if failed:
        raise fail(f"{failed} of {len(files)} envelopes were not delivered", "upload-failed")


def _read_receipt_code() -> str:
    """The receipt code, asked on the terminal without echo (or read from piped stdin)."""
    import getpass

    if sys.stdin.isatty():
        return getpass.getpass("receipt code: ")
    return sys.stdin.readline().strip()


def followup(
    server: Annotated[str, typer.Option("--server", help="The server's base URL.")],
    parent: Annotated[str, typer.Option("--parent", help="The submission id (hex) to add to.")],
    text: Annotated[str, typer.Option("--text", help="What to add.")] = "",
    attach: Annotated[
        list[Path] | None, typer.Option("--attach", help="A file to attach (repeatable).")
    ] = None,
    log_key: Annotated[
        str | None, typer.Option("--log-key", help="The log verifier key to trust.")
    ] = None,
) -> None:
    """Add to a testimony with its receipt code (docs/protocol.md §7); asks for the code."""
    from .followup import send_followup

    code = _read_receipt_code()
    with one_line_errors(), progress(in_bytes=True) as update:
        logged = send_followup(
            server,
            code,
            parent=parent,
            text=text,
            files=list(attach or []),
            log_key=log_key,
            progress=update,
        )
    typer.echo(f"follow-up logged: {logged['id']} (receipt verified)")


def replies(
    server: Annotated[str, typer.Option("--server", help="The server's base URL.")],
) -> None:
    """Read reviewers' replies with a receipt code (docs/protocol.md §7); asks for the code."""
    from .followup import fetch_replies

    code = _read_receipt_code()
    with one_line_errors():
        opened = fetch_replies(server, code)
    if not opened:
        typer.echo("no replies yet")
    for reply in opened:
        typer.echo(f"reply {reply.id} to {reply.parent}:")
        typer.echo(str(reply.message.get("text", "")))

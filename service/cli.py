"""The ``testimony`` command (Typer). Commands stay thin: parse, call one
domain function, print one line. Errors print ``testimony: <message> (<code>)``
on one line and exit non-zero, without a traceback.

Settings come from the flags, then the environment (``TESTIMONY_<NAME>``),
then a TOML file (``--config``); see ``testimony.service.settings``.

::

    testimony init --data-dir DIR --intake-public-key FILE [--origin NAME]
    testimony serve --data-dir DIR [--host H] [--port P] [--database-url URL] [--pow-bits N]
    testimony log-key --data-dir DIR
    testimony audit (--data-dir DIR | --database-url URL [--log-key KEY])
    testimony raw ID --data-dir DIR --out FOLDER
    testimony intake-key new --private FILE --public FILE
    testimony seal --form FORM.json --intake-key KEY --out FILE.testimony [--answers A.json]
                   [--attach FILE]... [--lang L] [--share-with WHO]... [--contact]
    testimony upload FILE... --server URL [--log-key KEY]
    testimony offline-page --form FORM.json --intake-key KEY --out PAGE.html [--lang L]...
    testimony forms import FILE.xlsx --out FORM.json
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Any

import typer

from testimony.crypto.errors import CryptoError
from testimony.service.domain.errors import DomainError

app = typer.Typer(
    name="testimony",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Testimony: secure, anonymous testimony intake for human-rights documentation.",
)
intake_key_app = typer.Typer(
    no_args_is_help=True, help="Intake key pairs (for operators and tests)."
)
app.add_typer(intake_key_app, name="intake-key")
forms_app = typer.Typer(no_args_is_help=True, help="Form definitions (PROTOCOL.md §5).")
app.add_typer(forms_app, name="forms")


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


@contextlib.contextmanager
def _one_line_errors() -> Iterator[None]:
    """Turn the errors a command may meet into the one-line error and exit 1."""
    from sqlalchemy.exc import SQLAlchemyError

    from testimony.forms.errors import FormError
    from testimony.service.store.errors import StoreError

    try:
        yield
    except (DomainError, CryptoError, StoreError, FormError) as exc:
        raise fail(str(exc).splitlines()[0], exc.code) from None
    except SQLAlchemyError:
        raise fail("the database cannot be read as a Testimony log", "database-error") from None
    except OSError as exc:
        raise fail(f"{exc.strerror or 'input/output error'}: {exc.filename}", "io-error") from None


@contextlib.contextmanager
def _progress(*, in_bytes: bool = False) -> Iterator[Callable[[str, int, int], None]]:
    """Progress bars on stderr, one per phase, drawn only on a terminal and
    gone when done; yields ``update(phase, done, total)`` (counts, or bytes)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn() if in_bytes else MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not sys.stderr.isatty(),
    ) as bars:
        tasks: dict[str, Any] = {}

        def update(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bars.add_task(phase, total=total)
            bars.update(tasks[phase], completed=done, total=total)

        yield update


# --- options ---------------------------------------------------------------------

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="The data directory.", show_default=False)
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="SQLAlchemy URL (default: SQLite in the data dir)."),
]
Config = Annotated[
    Path | None, typer.Option("--config", help="A TOML file of settings.", show_default=False)
]


def _settings(config: Path | None, **flags: Any) -> Any:
    from testimony.service.settings import load_settings

    return load_settings(flags, config=config)


# --- commands --------------------------------------------------------------------


@app.command()
def init(
    intake_public_key: Annotated[
        Path, typer.Option("--intake-public-key", help="File holding the b64u S1 public key.")
    ],
    data_dir: DataDir = None,
    origin: Annotated[
        str | None, typer.Option("--origin", help="The log's origin (and key name).")
    ] = None,
    database_url: DatabaseUrl = None,
    config: Config = None,
) -> None:
    """Create a data directory: database, log key, and the first entry naming the intake key."""
    from testimony.service.domain import setup

    with _one_line_errors():
        settings = _settings(config, data_dir=data_dir, database_url=database_url)
        public = setup.read_intake_public_key(intake_public_key)
        result = setup.init_data_dir(settings, public, origin=origin or setup.DEFAULT_ORIGIN)
    typer.echo(f"log key: {result.verifier_key}")
    typer.echo(f"intake key id: {result.intake_key_id}")
    typer.echo(f"first entry: {result.entry_id}")


_LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "stream": "ext://sys.stderr",
        }
    },
    "loggers": {
        "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "uvicorn.error": {"level": "INFO"},
        # The access log would name every client: it is never configured.
        "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
        "testimony": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
}


@app.command()
def serve(
    data_dir: DataDir = None,
    host: Annotated[str | None, typer.Option("--host", help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port to listen on.")] = None,
    database_url: DatabaseUrl = None,
    pow_bits: Annotated[
        int | None, typer.Option("--pow-bits", help="Proof-of-work bits (0 = off).")
    ] = None,
    forms_dir: Annotated[
        Path | None, typer.Option("--forms", help="A folder of form definitions to publish.")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="Server processes, about one core each (default 1)."),
    ] = None,
    config: Config = None,
) -> None:
    """Run the intake server (no access log, no client addresses, no proxy headers)."""
    from testimony.forms.registry import bundled_forms, load_forms_dir
    from testimony.service.api import serving
    from testimony.service.api.app import create_app
    from testimony.service.domain import setup

    with _one_line_errors():
        settings = _settings(
            config,
            data_dir=data_dir,
            host=host,
            port=port,
            database_url=database_url,
            pow_bits=pow_bits,
            forms_dir=forms_dir,
            workers=workers,
        )
        registry = load_forms_dir(settings.forms_dir) if settings.forms_dir else bundled_forms()
        settings = settings.replace(forms=registry)
        if settings.workers == 1:
            application = create_app(settings)
        else:
            # Fail here, in one line, on a broken setup; migrate and sweep once,
            # before any worker serves.
            setup.open_server(settings).close()
    status = serving.run(
        (lambda: application)
        if settings.workers == 1
        else (lambda: create_app(settings, first=False)),
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_config=_LOG_CONFIG,
    )
    if status:
        raise typer.Exit(status)


@app.command("log-key")
def log_key(data_dir: DataDir = None, config: Config = None) -> None:
    """Print the log's verifier key (publish it; witnesses and auditors pin it)."""
    from testimony.service.domain.setup import load_signer

    with _one_line_errors():
        settings = _settings(config, data_dir=data_dir)
        typer.echo(load_signer(settings).verifier_key)


@app.command()
def audit(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    log_key: Annotated[
        str | None,
        typer.Option("--log-key", help="The pinned verifier key (default: the data dir's)."),
    ] = None,
    config: Config = None,
) -> None:
    """Recompute the log from its entries and check every checkpoint and blob.

    Exits 0 only if everything holds; otherwise prints one line per finding.
    """
    from testimony.service.domain import audit as auditing

    with _one_line_errors(), _progress() as update:
        settings = _settings(config, data_dir=data_dir, database_url=database_url, log_key=log_key)
        notes, findings = auditing.audit_settings(
            settings, progress=lambda done, total: update("auditing entries", done, total)
        )
    for note in notes:
        typer.echo(f"testimony: {note}", err=True)
    for finding in findings:
        typer.echo(finding.line())
    if findings:
        raise fail(f"the audit found {len(findings)} problems", "audit-failed")
    typer.echo("audit: the log, its checkpoints and its blobs are consistent")


@app.command("rebuild-projections")
def rebuild_projections(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    config: Config = None,
) -> None:
    """Empty the tables derived from the log and replay every entry into them.

    One transaction under the log's writer lock: appends wait until it ends
    (stop the server first for a large log). Nothing changes if it fails.
    """
    from testimony.service.domain.setup import rebuild_projections_of

    with _one_line_errors(), _progress() as update:
        settings = _settings(config, data_dir=data_dir, database_url=database_url)
        try:
            count = rebuild_projections_of(
                settings, progress=lambda done, total: update("replaying entries", done, total)
            )
        except ValueError as exc:
            raise fail(str(exc).splitlines()[0], "unreadable-entry") from None
    typer.echo(f"rebuilt the projections from {count} entries")


@app.command()
def raw(
    submission_id: Annotated[str, typer.Argument(metavar="ID", help="The submission's id (hex).")],
    out: Annotated[Path, typer.Option("--out", help="An empty or new folder.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    config: Config = None,
) -> None:
    """Write a submission's entry.json, header.bin, body.bin and blobs/ (PROTOCOL.md §11)."""
    from testimony.service.domain.raw import write_raw_submission
    from testimony.service.domain.setup import open_log

    with _one_line_errors():
        settings = _settings(config, data_dir=data_dir, database_url=database_url)
        with open_log(settings) as (log, blobs):
            count = write_raw_submission(log, blobs, submission_id, out)
    typer.echo(f"wrote {count} files to {out}")


@intake_key_app.command("new")
def intake_key_new(
    private: Annotated[Path, typer.Option("--private", help="Where to write the 32-byte seed.")],
    public: Annotated[Path, typer.Option("--public", help="Where to write the b64u public key.")],
) -> None:
    """Write a fresh intake key pair (the private seed with mode 0600)."""
    from testimony.service.domain.setup import new_intake_key

    with _one_line_errors():
        key_id = new_intake_key(private, public)
    typer.echo(f"intake key id: {key_id}")


@contextlib.contextmanager
def _courier_errors() -> Iterator[None]:
    """The courier's errors as the one-line error and exit 1."""
    from testimony.service.courier.errors import CourierError

    try:
        yield
    except CourierError as exc:
        raise fail(str(exc).splitlines()[0], exc.code) from None
    except FileExistsError as exc:
        raise fail(str(exc), "file-exists") from None


@app.command()
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
    """Seal a testimony into an offline envelope (PROTOCOL.md §4), with no network."""
    from testimony.crypto.hpke import key_id
    from testimony.forms import Consent, load_form
    from testimony.service.courier import prompt
    from testimony.service.courier import seal as sealing

    with _one_line_errors(), _courier_errors():
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
        with _progress(in_bytes=True) as update:
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


@app.command()
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
    from testimony.service.courier.upload import Courier

    failed = 0
    with _courier_errors(), Courier(server, log_key=log_key) as courier:
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


@app.command()
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
    """Add to a testimony with its receipt code (PROTOCOL.md §7); asks for the code."""
    from testimony.service.courier.followup import send_followup

    code = _read_receipt_code()
    with _one_line_errors(), _courier_errors(), _progress(in_bytes=True) as update:
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


@app.command()
def replies(
    server: Annotated[str, typer.Option("--server", help="The server's base URL.")],
) -> None:
    """Read reviewers' replies with a receipt code (PROTOCOL.md §7); asks for the code."""
    from testimony.service.courier.followup import fetch_replies

    code = _read_receipt_code()
    with _one_line_errors(), _courier_errors():
        opened = fetch_replies(server, code)
    if not opened:
        typer.echo("no replies yet")
    for reply in opened:
        typer.echo(f"reply {reply.id} to {reply.parent}:")
        typer.echo(str(reply.message.get("text", "")))


@app.command("offline-page")
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

    with _one_line_errors(), _courier_errors():
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
    """Convert an XLSForm into a PROTOCOL.md §5 definition; print what was not carried over."""
    from testimony.forms.xlsform import run_import

    with _one_line_errors(), _courier_errors():
        warnings = run_import(source, out)
    for line in warnings:
        typer.echo(f"warning: {line}")
    typer.echo(f"wrote {out}")


def main() -> None:
    """Entry point of the console script: no traceback ever reaches the user."""
    try:
        app()
    except (CryptoError, DomainError) as exc:
        typer.echo(f"testimony: {exc} ({exc.code})", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.echo("testimony: interrupted", err=True)
        sys.exit(130)

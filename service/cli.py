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
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
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
    config: Config = None,
) -> None:
    """Run the intake server (no access log, no client addresses, no proxy headers)."""
    import uvicorn

    from testimony.forms.registry import bundled_forms, load_forms_dir
    from testimony.service.api.app import create_app

    with _one_line_errors():
        settings = _settings(
            config,
            data_dir=data_dir,
            host=host,
            port=port,
            database_url=database_url,
            pow_bits=pow_bits,
            forms_dir=forms_dir,
        )
        registry = load_forms_dir(settings.forms_dir) if settings.forms_dir else bundled_forms()
        application = create_app(settings.replace(forms=registry))
    uvicorn.run(
        application,
        host=settings.host,
        port=settings.port,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        ws="none",
        log_config=_LOG_CONFIG,
        timeout_graceful_shutdown=10,
    )


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

    with _one_line_errors():
        settings = _settings(config, data_dir=data_dir, database_url=database_url, log_key=log_key)
        notes, findings = auditing.audit_settings(settings)
    for note in notes:
        typer.echo(f"testimony: {note}", err=True)
    for finding in findings:
        typer.echo(finding.line())
    if findings:
        raise fail(f"the audit found {len(findings)} problems", "audit-failed")
    typer.echo("audit: the log, its checkpoints and its blobs are consistent")


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

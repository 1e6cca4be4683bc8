"""The server operator's commands: ``init``, ``serve``, ``log-key``, ``audit``,
``rebuild-projections``, ``raw`` and ``intake-key new``.

Commands stay thin: parse, call one function of the wiring
(``testimony.service.server``) or the domain, print one line. Settings come
from the flags, then the environment (``TESTIMONY_<NAME>``), then a TOML file
(``--config``); see ``testimony.service.settings``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from testimony.client.console import fail, first_line, one_line_errors, progress

__all__ = ["register"]

intake_key_app = typer.Typer(
    no_args_is_help=True, help="Intake key pairs (for operators and tests)."
)


@contextlib.contextmanager
def _one_line_errors() -> Iterator[None]:
    """:func:`one_line_errors`, and a database that is not a Testimony log's
    (SQLAlchemy's errors carry codes of their own, not the project's)."""
    from sqlalchemy.exc import SQLAlchemyError

    with one_line_errors():
        try:
            yield
        except SQLAlchemyError:
            raise fail("the database cannot be read as a Testimony log", "database-error") from None


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


def register(app: typer.Typer) -> None:
    """Add the server's commands to the ``testimony`` command."""
    app.add_typer(intake_key_app, name="intake-key")
    for command in (init, serve, log_key, audit, rebuild_projections, raw):
        app.command(_NAMES.get(command.__name__, command.__name__))(command)


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
    from testimony.service import server as setup

    with _one_line_errors():
        settings = _settings(config, data_dir=data_dir, database_url=database_url)
        public = setup.read_intake_public_key(intake_public_key)
        result = setup.init_data_dir(settings, public, origin=origin or setup.DEFAULT_ORIGIN)
    typer.echo(f"log key: {result.verifier_key}")
    typer.echo(f"intake key id: {result.intake_key_id}")
    typer.echo(f"first entry: {result.entry_id}")
    typer.echo(
        "setup token (shown once: give it to the founding admin for `testimony org init`; "
        "only its hash is kept):"
    )
    typer.echo(result.setup_token)


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
    log_witnesses: Annotated[
        list[str] | None,
        typer.Option(
            "--log-witness",
            help="A log witness to send checkpoints to, as URL=VERIFIER-KEY (repeatable; "
            "docs/protocol.md §13).",
            show_default=False,
        ),
    ] = None,
    config: Config = None,
) -> None:
    """Run the intake server (no access log, no client addresses, no proxy headers).

    Every connection is held to the limits of the settings (``max_header_bytes``,
    ``header_timeout_seconds``, ``body_timeout_seconds``,
    ``keepalive_timeout_seconds``, ``max_connections``; docs/server.md "Limits").
    With log witnesses configured, one process sends them the settled
    checkpoints and the checkpoint route serves their cosignatures (§13).
    """
    from testimony.forms.registry import bundled_forms, load_forms_dir
    from testimony.service import server as setup
    from testimony.service.api import serving
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
            workers=workers,
            log_witnesses=log_witnesses,
        )
        limits = serving.Limits.of(settings)  # refuses a file-descriptor limit too low
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
        limits=limits,
    )
    if status:
        raise typer.Exit(status)


def log_key(data_dir: DataDir = None, config: Config = None) -> None:
    """Print the log's verifier key (publish it; witnesses and auditors pin it)."""
    from testimony.service.server import load_signer

    with _one_line_errors():
        settings = _settings(config, data_dir=data_dir)
        typer.echo(load_signer(settings).verifier_key)


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
    from testimony.service.server import audit_settings

    with _one_line_errors(), progress() as update:
        settings = _settings(config, data_dir=data_dir, database_url=database_url, log_key=log_key)
        notes, findings = audit_settings(
            settings, progress=lambda done, total: update("auditing entries", done, total)
        )
    for note in notes:
        typer.echo(f"testimony: {note}", err=True)
    for finding in findings:
        typer.echo(finding.line())
    if findings:
        raise fail(f"the audit found {len(findings)} problems", "audit-failed")
    typer.echo("audit: the log, its checkpoints and its blobs are consistent")


def rebuild_projections(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    config: Config = None,
) -> None:
    """Empty the tables derived from the log and replay every entry into them.

    One transaction under the log's writer lock: appends wait until it ends
    (stop the server first for a large log). Nothing changes if it fails.
    """
    from testimony.service.server import rebuild_projections_of

    with _one_line_errors(), progress() as update:
        settings = _settings(config, data_dir=data_dir, database_url=database_url)
        try:
            count = rebuild_projections_of(
                settings, progress=lambda done, total: update("replaying entries", done, total)
            )
        except ValueError as exc:
            raise fail(first_line(exc), "unreadable-entry") from None
    typer.echo(f"rebuilt the projections from {count} entries")


def raw(
    submission_id: Annotated[str, typer.Argument(metavar="ID", help="The submission's id (hex).")],
    out: Annotated[Path, typer.Option("--out", help="An empty or new folder.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    config: Config = None,
) -> None:
    """Write a submission's entry.json, header.bin, body.bin and blobs/ (docs/protocol.md §11)."""
    from testimony.service.domain.raw import write_raw_submission
    from testimony.service.server import open_log

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
    from testimony.service.server import new_intake_key

    with _one_line_errors():
        key_id = new_intake_key(private, public)
    typer.echo(f"intake key id: {key_id}")


_NAMES = {"log_key": "log-key", "rebuild_projections": "rebuild-projections"}

"""What every ``testimony`` command shares on the terminal.

An error is one line on stderr, ``testimony: <message> (<code>)``, and exit
status 1; never a traceback. Every error raised on purpose anywhere in the
project carries a stable ``code`` (``testimony.crypto.errors``,
``testimony.forms.errors``, the server's domain and store errors, the
courier's); :func:`one_line_errors` prints any of them, and the OS errors a
command may meet, with no list of classes to keep (:func:`error_code`). Progress bars are drawn on stderr only when it is a
terminal.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any

import typer

__all__ = [
    "WORK_PHASE",
    "Progress",
    "error_code",
    "fail",
    "first_line",
    "one_line_errors",
    "progress",
]

Progress = Callable[[str, int, int], None]

WORK_PHASE = "proof of work"
"""The phase a proof of work is reported under: counted in hashes, never in bytes."""
"""``update(phase, done, total)``: counts, or bytes, done of ``total`` in ``phase``."""


def fail(message: str, code: str) -> typer.Exit:
    """Print the one-line error and return the exit to raise."""
    typer.echo(f"testimony: {message} ({code})", err=True)
    return typer.Exit(1)


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (messages never hold a secret)."""
    lines = str(exc).splitlines()
    return lines[0] if lines else type(exc).__name__


def error_code(exc: BaseException) -> str | None:
    """The stable ``code`` of an error raised on purpose, or None (anything
    else is a bug, and keeps its traceback)."""
    code = getattr(exc, "code", None)
    return code if isinstance(code, str) else None


@contextlib.contextmanager
def one_line_errors(*coded: type[Exception]) -> Iterator[None]:
    """Turn every error raised on purpose (:func:`error_code`), any of
    ``coded`` besides, and OS errors into the one-line error and exit 1."""
    try:
        yield
    except Exception as exc:
        code = error_code(exc)
        if code is None and isinstance(exc, coded):
            code = str(getattr(exc, "code", "error"))
        if code is not None:
            raise fail(first_line(exc), code) from None
        if isinstance(exc, FileExistsError):
            raise fail(first_line(exc), "file-exists") from None
        if isinstance(exc, OSError):
            message = f"{exc.strerror or 'input/output error'}: {exc.filename}"
            raise fail(message, "io-error") from None
        raise


@contextlib.contextmanager
def progress(*, in_bytes: bool = False) -> Iterator[Progress]:
    """Progress bars on stderr, one per phase, drawn only on a terminal and
    gone when done; yields ``update(phase, done, total)`` (counts, or bytes)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Progress as Bars

    with Bars(
        TextColumn("{task.description}"),
        BarColumn(),
        _unit_column(DownloadColumn() if in_bytes else MofNCompleteColumn()),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not sys.stderr.isatty(),
    ) as bars:
        tasks: dict[str, Any] = {}

        def update(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bars.add_task(phase, total=total, counted=phase == WORK_PHASE)
            bars.update(tasks[phase], completed=done, total=total)

        yield update


def _unit_column(inner: Any) -> Any:
    """A column showing counts for a task marked ``counted`` (hashes), else ``inner``."""
    from rich.progress import MofNCompleteColumn, ProgressColumn

    class UnitColumn(ProgressColumn):
        def __init__(self) -> None:
            super().__init__()
            self._counts = MofNCompleteColumn()

        def render(self, task: Any) -> Any:
            column = self._counts if task.fields.get("counted") else inner
            return column.render(task)

    return UnitColumn()

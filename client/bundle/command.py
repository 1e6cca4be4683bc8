"""``testimony verify PATH [--identity FILE] [--log-key KEY] [--checkpoint NEWER.txt] [--log URL|FILE]
[--witness-key VKEY... [--cosignatures N]] [--disclosure FILE]``:
an evidence bundle checked with nothing but the bundle (docs/protocol.md §11;
``testimony.client.bundle.verify``).

PATH is the bag's folder, its ZIP, or the ZIP encrypted with age (then
``--identity`` is the recipient's age identity file). It prints one line per
check — ``ok`` or ``FAIL``, what was checked, and why — then a summary line
saying what the verdict rests on (``self-certified``: the log key came from
the bag; ``pinned``: it is the ``--log-key`` given), and exits 1 if any check
failed. A bundle that cannot be read at all is the one-line error
``testimony: <message> (<code>)``.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Annotated

import typer

from testimony.client.console import one_line_errors

from .verify import Item, verify

__all__ = ["register", "verify_command"]

_SHOWN_AS_MARKS = frozenset({"Cc", "Cf", "Co", "Cn", "Cs", "Zl", "Zp"})


def register(app: typer.Typer) -> None:
    """Add ``verify`` to the ``testimony`` command."""
    app.command("verify")(verify_command)


def _inert(text: str) -> str:
    """``text`` with every control, bidi or invisible character as ``⟦U+202E⟧``
    (what a bundle says cannot drive the terminal; the workstation's rule)."""
    return "".join(
        f"\u27e6U+{ord(c):04X}\u27e7" if unicodedata.category(c) in _SHOWN_AS_MARKS else c
        for c in text
    )


def _line(item: Item) -> str:
    mark = "ok  " if item.ok else "FAIL"
    return _inert(f"{mark} {item.kind} {item.id}: {item.message}")


def verify_command(
    path: Annotated[
        Path, typer.Argument(help="The bundle: its folder, its ZIP, or the ZIP encrypted with age.")
    ],
    identity: Annotated[
        Path | None,
        typer.Option("--identity", help="The age identity file that opens an encrypted bundle."),
    ] = None,
    log_key: Annotated[
        str | None,
        typer.Option(
            "--log-key",
            help="The log's verifier key, from the organisation (else the bag's own is used: "
            "self-certified).",
        ),
    ] = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint",
            help="A newer signed checkpoint of the log (with, appended, the consistency proof "
            "from the bundle's size) to check the bundle against.",
        ),
    ] = None,
    witness_key: Annotated[
        list[str] | None,
        typer.Option(
            "--witness-key",
            help="A witness's key (C2SP vkey of type 0x04) you trust; repeatable (§13).",
        ),
    ] = None,
    cosignatures: Annotated[
        int | None,
        typer.Option(
            "--cosignatures",
            help="How many of the witnesses given must have cosigned a checkpoint the bundle's "
            "is consistent with (default 1).",
        ),
    ] = None,
    disclosure: Annotated[
        Path | None,
        typer.Option(
            "--disclosure",
            help="A full disclosure of what the bundle withheld (testimony exports disclose): "
            "each item is checked against the bundle's commitments.",
        ),
    ] = None,
    log: Annotated[
        str | None,
        typer.Option(
            "--log",
            help="The organisation's public log, its server's URL or a file of its entries (one "
            "b64u entry a line): checks that no access, follow-up or reply was left out.",
        ),
    ] = None,
) -> None:
    """Verify an evidence bundle offline: every check of docs/protocol.md §11.

    With --log (the only option that may use the network), also against the
    organisation's public log.
    """
    with one_line_errors():
        verdict = verify(
            path,
            log_key=log_key,
            newer_checkpoint=checkpoint,
            identity=identity,
            log=log,
            witness_keys=witness_key or [],
            cosignatures=cosignatures,
            disclosure=disclosure,
        )
    for item in verdict.items:
        typer.echo(_line(item))
    typer.echo(verdict.summary())
    if not verdict.ok:
        raise typer.Exit(1)

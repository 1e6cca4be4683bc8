"""The receipt of a submission (docs/protocol.md §10), as the server builds it.

::

    {"id": "<hex leaf>", "index": 41, "entry": "<b64u entry bytes>",
     "checkpoint": "<signed note text, size > index>",
     "inclusion": {"index": 41, "size": 42, "path": ["<hex>", "..."]}}

Verifying one is the witness's side and lives once, in
``testimony.crypto.receipts.verify_receipt``; the tests check every receipt
this server answers with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from testimony.crypto import merkle
from testimony.crypto.encoding import b64u_encode

__all__ = ["Receipt", "build_receipt"]


@dataclass(frozen=True)
class Receipt:
    """A receipt: the entry, its index, and its proof to a signed checkpoint."""

    entry: bytes
    index: int
    checkpoint: str
    size: int
    path: tuple[bytes, ...]

    @classmethod
    def proved(cls, entry: bytes, checkpoint: str, proof: merkle.InclusionProof) -> Receipt:
        """The receipt of ``entry``, proved by ``proof`` under the signed ``checkpoint`` note.

        ``proof.size`` must be the checkpoint's size; the receipt's index is ``proof.index``.
        """
        return cls(
            entry=entry,
            index=proof.index,
            checkpoint=checkpoint,
            size=proof.size,
            path=tuple(proof.path),
        )

    @property
    def id(self) -> str:
        """The entry's id, ``hex(H(0x00 || entry))``."""
        return merkle.leaf_hash(self.entry).hex()

    def to_json(self) -> dict[str, Any]:
        """The §10 JSON object."""
        return build_receipt(self.entry, self.index, self.checkpoint, self.size, self.path)


def build_receipt(
    entry: bytes, index: int, checkpoint: str, size: int, path: Sequence[bytes]
) -> dict[str, Any]:
    """The §10 JSON of an entry at ``index``, proved at ``size`` under ``checkpoint``."""
    return {
        "id": merkle.leaf_hash(entry).hex(),
        "index": index,
        "entry": b64u_encode(entry),
        "checkpoint": checkpoint,
        "inclusion": {"index": index, "size": size, "path": [node.hex() for node in path]},
    }

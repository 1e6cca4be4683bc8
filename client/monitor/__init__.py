"""``testimony monitor``: a witness and a monitor of a Testimony log
(docs/protocol.md §13, docs/monitor.md).

- ``witness``: a C2SP ``tlog-witness`` (https://c2sp.org/tlog-witness). It
  serves ``POST /add-checkpoint``, checks each checkpoint's log signature with
  the pinned log key and its consistency with the latest checkpoint it
  cosigned for that log, persists the new one, then cosigns it
  (``cosignature/v1``, :mod:`testimony.crypto.cosignature`).
- ``watch``: a monitor. It polls a server's checkpoint, checks it against
  every checkpoint it saw before, keeps them all, keeps two that are not
  consistent as evidence of a fork, rebuilds the root from the log's entries
  and replays §12's governance entries.
- ``files``: atomic, durable writes and the lock on a state folder.
- ``command``: the ``monitor`` commands of ``testimony``.

Only the crypto package and the shared client are used (``architecture.ini``):
the monitor talks to a server over HTTP as anyone else would.
"""

"""The shared client side of Testimony: what every program that talks to a
Testimony server uses, and nothing of the server itself.

- ``console``: the one-line errors, exit codes and progress bars of every
  ``testimony`` command.
- ``http``: :class:`~testimony.client.http.ServerClient`, one server over
  HTTP (docs/protocol.md §0): problem documents as errors with the server's
  ``code``, strict JSON, the log key (§9), proof of work (§8), the intake key
  of a form (§5).
- ``tus``: resumable blob uploads (§6): creation with its proof of work,
  ``HEAD``, ``PATCH`` with resume from the server's offset.
- ``errors``: the one exception tree of this package, each with a stable
  ``code``.

Its users are the courier's tools (``testimony.service.courier``), the
reviewers' workstation (``testimony.workstation``) and, above both, the
``testimony`` command. The layer contract (``architecture.ini``) keeps it
apart from the server's store, domain and api.
"""

"""The shared client side of Testimony: what every program that talks to a
Testimony server uses, and nothing of the server itself.

- ``console``: the one-line errors, exit codes and progress bars of every
  ``testimony`` command.

Its users are the courier's tools (``testimony.service.courier``), the
reviewers' workstation (``testimony.workstation``) and, above both, the
``testimony`` command. The layer contract (``architecture.ini``) keeps it
apart from the server's store, domain and api.
"""

"""The reviewers' workstation (``testimony.workstation``): the local app with
which a vetted reviewer decrypts, triages, tags and links testimonies, and
exports evidence bundles (docs/protocol.md §11 and §12).

It is a client, kept apart from the server as SecureDrop keeps its
journalists' app apart: it runs on the reviewer's own machine, holds the
reviewer's private keys (encrypted under a passphrase), and reaches the server
only through its public HTTP API, with the shared client (``testimony.client``)
— over Tor as well as on a LAN. It reuses ``testimony.crypto`` for everything
cryptographic and ``testimony.forms`` to read the questionnaires, and never
imports the server's store, domain, wiring or api: the layer contract
(``architecture.ini``) fails ``make test`` if it does.

Nothing is built here yet: issue by issue it gains identities and the
keyring, sync into an encrypted local cache, triage, incidents, its web UI on
127.0.0.1, and bundle export. Its commands are in ``workstation.cli``.
"""

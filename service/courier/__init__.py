"""The courier's side of docs/protocol.md §4: offline sealed envelopes.

- ``envelope``: read and write the ``.testimony`` ZIP, strictly.
- ``seal``: build an envelope with no network from a saved form definition
  and intake public key (§3 steps 1 to 5, §7 witness keys).
- ``prompt``: the interactive terminal questionnaire in the witness's language.
- ``upload``: deliver envelopes to a server (§6 tus uploads, §8 proof of
  work, §3 step 6) and verify each receipt (§10).
- ``followup``: the witness back with a receipt code (§7): follow-ups and replies.
- ``errors``: the one exception tree of this package.

Both ``upload`` and ``followup`` reach the server with the shared client,
``testimony.client`` (``http``, ``tus``).

The guide for couriers is ``docs/courier.md``.
"""

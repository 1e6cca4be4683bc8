"""Evidence bundles (docs/protocol.md §11): BagIt 1.0 bags a verifier checks
with nothing but the bag.

- ``layout``: where everything lies in a bundle, and its naming rules.
- ``bag``: a streaming BagIt writer (:class:`~testimony.client.bundle.bag.BagWriter`)
  and a reader that checks the manifests (:func:`~testimony.client.bundle.bag.check_bag`).
- ``verify``: every check of §11, as a structured verdict
  (:func:`~testimony.client.bundle.verify.verify`).
- ``public_log``: the organisation's public log, read for ``verify --log``
  (from its server or a file).
- ``command``: ``testimony verify``.
- ``bagit-profile.json``: the bundle's layout as a BagIt Profile.

The workstation writes bundles (``testimony.workstation.export``); anyone
verifies them, without the server, the workstation or any key but the log's.
"""

from importlib import resources

__all__ = ["BAGIT_PROFILE_ID", "bagit_profile"]

BAGIT_PROFILE_ID = "urn:testimony:bagit-profile:evidence-bundle:1"
"""The ``BagIt-Profile-Identifier`` every bundle's ``bag-info.txt`` names."""


def bagit_profile() -> bytes:
    """The BagIt Profile of a bundle (``bagit-profile.json``), as shipped."""
    return resources.files(__package__).joinpath("bagit-profile.json").read_bytes()

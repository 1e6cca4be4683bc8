"""``python -m testimony.client.monitor``: the ``monitor`` commands on their own."""

from .command import main

main()

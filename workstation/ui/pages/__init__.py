"""The UI's pages, one module per part: each lists its routes in ``ROUTES``
(``app._routes`` gathers them) and keeps to reading through the workstation's
modules and changing through ``workstation.actions``."""

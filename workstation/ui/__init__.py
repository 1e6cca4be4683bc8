"""The reviewer's web UI: ``testimony workstation ui`` serves it on 127.0.0.1
over the encrypted cache (docs/workstation.md, "The web UI").

``app`` (the desk, the pages' framework), ``guard`` (what protects it),
``render`` (templates and strings), ``text`` (untrusted text made visible),
``charts`` (SVG drawn here: timeline, map, bars), ``server`` (uvicorn on a
free port until Ctrl-C) and ``pages/`` (queue, testimony, incidents,
overview, search).
"""

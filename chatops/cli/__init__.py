"""The ``chatops`` command (ARCHITECTURE.md section 4): the top layer, which starts the rest.

- ``main``: the argument parser and one small function per sub-command.
- ``serve``: ``chatops serve``, one replica under uvicorn (or Socket Mode).
- ``poll_status``: ``chatops poll --once`` and ``chatops status [QUERY]``.
"""

from __future__ import annotations

from chatops.cli.main import main

__all__ = ["main"]

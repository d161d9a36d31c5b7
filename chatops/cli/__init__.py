"""The ``chatops`` command (ARCHITECTURE.md section 4): the top layer, which starts the rest.

- ``commands``: the argument parser and one small function per sub-command.
- ``serve``: ``chatops serve``, one replica under uvicorn (or Socket Mode).
- ``poll_status``: ``chatops poll --once`` and ``chatops status [QUERY]``.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """The ``chatops`` command, with the cyclic garbage collector off while it starts.

    What start-up allocates (modules, classes, functions, the settings) lives as long as the
    process, so collecting it is wasted work: at ``chatops serve`` about 0.13 s of CPU
    before the first reply, several full collections among the imports. The command turns
    it back on once its modules are imported, except ``serve``, whose service hands it to
    ``chatops.collector`` once it runs. Called in-process, it leaves the collector as it
    found it.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        from chatops.cli.commands import main as run

        return run(argv)
    finally:
        if enabled:
            gc.enable()


__all__ = ["main"]

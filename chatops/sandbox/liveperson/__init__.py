"""A fake LivePerson that speaks the real HTTP APIs behind Bots Status, on loopback.

Every service is served under one base URL with its real path (api.py). The fleet is
deterministic from a seed (generation.py): bots with one or more agent connectors, each its
own status-list entry; PCS bots share one Survey Connector. Statuses come in several
spellings (``ONLINE``, ``online``, ``NOT_CONNECTED``, ``not-connected``, ``Connected``...),
a few entries leave ``botName`` out, and every list comes in a new order on each call, as
the real service may, so clients must normalise, fall back to the bot platform, and never
rely on order. Start and stop act on the connector their body names (fleet.py).

``/_sandbox/...`` is the control API for tests, the demo and people (control.py): change a
bot or one connector, inject faults (faults.py), make a status flap, expire every token,
rebuild the fleet, read the requests seen.

Modules: ``model`` (vocabulary), ``generation``, ``fleet`` (state and semantics),
``accounts`` (credentials, sessions), ``faults`` (middleware), ``api`` and ``control``
(routes), ``fake`` (``FakeLivePerson``), ``command`` (the CLI). Serving in a thread is
``chatops.sandbox.serving``.

Nothing here imports from the rest of chatops: the sandbox stands in for the outside world.
"""

from __future__ import annotations

from chatops.sandbox import serving
from chatops.sandbox.liveperson.command import serve_forever
from chatops.sandbox.liveperson.fake import DEFAULT_BOTS, FakeLivePerson
from chatops.sandbox.liveperson.faults import FAULT_KINDS
from chatops.sandbox.liveperson.model import (
    CONTROL,
    MONITORING,
    PATCHABLE_FIELDS,
    PCS_USER,
    PLATFORM,
    UNASSIGNED_GROUP,
)

# A fake LivePerson served in a thread: ``.fake``, ``.url``, ``.stop()``.
RunningServer = serving.RunningServer[FakeLivePerson]
run_in_thread = serving.run_in_thread


__all__ = [
    "CONTROL",
    "DEFAULT_BOTS",
    "FAULT_KINDS",
    "MONITORING",
    "PATCHABLE_FIELDS",
    "PCS_USER",
    "PLATFORM",
    "UNASSIGNED_GROUP",
    "FakeLivePerson",
    "RunningServer",
    "run_in_thread",
    "serve_forever",
]

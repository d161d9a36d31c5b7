"""``chatops sandbox liveperson``: serve a fake fleet in the foreground until Ctrl-C."""

from __future__ import annotations

import sys

import uvicorn

from chatops.sandbox.liveperson.fake import FakeLivePerson
from chatops.sandbox.liveperson.model import CONTROL
from chatops.sandbox.serving import listen, url_of, uvicorn_config

_COMMAND = "chatops sandbox liveperson"


def serve_forever(
    *,
    host: str,
    port: int,
    bots: int | None = None,
    connectors: int | None = None,
    seed: int = 1,
    messy: bool = False,
    duplicates: bool = False,
) -> int:
    """Serve a fake fleet of ``bots`` bots or ``connectors`` entries until Ctrl-C (exit 0).

    Exit 2 for a bad size, 1 when the port cannot be listened on.
    """
    if bots is not None and connectors is not None:
        print(f"{_COMMAND}: give --bots or --connectors, not both", file=sys.stderr)
        return 2
    for option, value in (("--bots", bots), ("--connectors", connectors)):
        if value is not None and value < 0:
            print(f"{_COMMAND}: {option} must be 0 or more", file=sys.stderr)
            return 2
    try:
        sock = listen(host, port)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        print(
            f"{_COMMAND}: cannot listen on {host}:{port}: {reason}"
            f" (is something else using port {port}? choose another with --port)",
            file=sys.stderr,
        )
        return 1
    fake = FakeLivePerson(
        bots=bots, connectors=connectors, seed=seed, messy=messy, duplicates=duplicates
    )
    fleet = fake.fleet()
    url = url_of(sock)
    variety = "".join(
        f", {name}" for name, wanted in (("messy", messy), ("duplicates", duplicates)) if wanted
    )
    print(
        f"Fake LivePerson: {fleet['bots']} bots, {fleet['entries']} connector entries"
        f" (seed {seed}{variety}) on {url}"
    )
    print("Point chatops at it with:")
    print(f"  export LP_API_URL={url}")
    print(f"  export LP_ACCOUNT_ID={fake.account_id}")
    print(f"  export LP_USERNAME={fake.username}")
    print(f"  export LP_PASSWORD={fake.password}")
    print(f"Control API: {url}{CONTROL}/bots, {CONTROL}/faults, {CONTROL}/requests. Ctrl-C stops.")
    sys.stdout.flush()
    server = uvicorn.Server(uvicorn_config(fake.app))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0

"""``FakeLivePerson``: the fake's Python API and its Starlette ``app``.

It puts together the fleet (fleet.py), the account's sessions (accounts.py), the faults and
request log (faults.py), LivePerson's routes (api.py) and the control routes (control.py).
Tests and the demo use the methods here; people and other processes use ``/_sandbox``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware

from chatops.sandbox.jsontypes import JSONDict
from chatops.sandbox.liveperson.accounts import Credentials, Sessions
from chatops.sandbox.liveperson.agent_metrics import AgentMetricsApi, AgentMetricsModel
from chatops.sandbox.liveperson.api import LivePersonApi, http_exception
from chatops.sandbox.liveperson.control import ControlApi
from chatops.sandbox.liveperson.faults import Fault, Faults, FaultsAndLog
from chatops.sandbox.liveperson.fleet import Fleet

DEFAULT_BOTS = 40


class FakeLivePerson:
    """The fake's state and its Starlette ``app``. Thread-safe: tests poke it directly.

    The fleet's size is ``bots`` (default 40) or ``connectors`` (status-list entries; about
    2.5 per bot), not both. ``messy`` leaves optional fields out of some entries,
    ``duplicates`` lists some entries twice, ``shuffle=False`` keeps the lists in one order.
    """

    def __init__(
        self,
        *,
        bots: int | None = None,
        connectors: int | None = None,
        seed: int = 1,
        messy: bool = False,
        duplicates: bool = False,
        shuffle: bool = True,
        account_id: str = "12345678",
        username: str = "chatops",
        password: str = "sandbox",
        app_key: str = "sandbox-app-key",
        secret: str = "sandbox-secret",
        access_token: str = "sandbox-access-token",
        access_token_secret: str = "sandbox-access-token-secret",
        start_delay: float = 2.0,
        token_ttl: float = 3600.0,
        region: str = "va",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if bots is None and connectors is None:
            bots = DEFAULT_BOTS
        self._credentials = Credentials(
            account_id=account_id,
            username=username,
            password=password,
            app_key=app_key,
            secret=secret,
            access_token=access_token,
            access_token_secret=access_token_secret,
            user_id="4210587012",
        )
        self._sessions = Sessions(self._credentials, clock=clock, token_ttl=token_ttl)
        self._faults = Faults(clock)
        self._fleet = Fleet(
            account_id=account_id, clock=clock, start_delay=start_delay, shuffle=shuffle
        )
        self._fleet.rebuild(
            bots=bots, connectors=connectors, seed=seed, messy=messy, duplicates=duplicates
        )
        self._api = LivePersonApi(self._fleet, self._sessions, region=region)
        self._agent_metrics = AgentMetricsModel(self._fleet)
        agent_view = AgentMetricsApi(self._agent_metrics, self._sessions)
        control = ControlApi(self._fleet, self._faults, self._sessions)
        self.app = Starlette(
            routes=self._api.routes() + agent_view.routes() + control.routes(),
            middleware=[Middleware(FaultsAndLog, faults=self._faults)],
            exception_handlers={HTTPException: http_exception},
        )

    # ------------------------------------------------------------------ account

    @property
    def account_id(self) -> str:
        return self._credentials.account_id

    @property
    def username(self) -> str:
        return self._credentials.username

    @property
    def password(self) -> str:
        return self._credentials.password

    @property
    def app_key(self) -> str:
        return self._credentials.app_key

    @property
    def secret(self) -> str:
        return self._credentials.secret

    @property
    def access_token(self) -> str:
        return self._credentials.access_token

    @property
    def access_token_secret(self) -> str:
        return self._credentials.access_token_secret

    @property
    def user_id(self) -> str:
        return self._credentials.user_id

    @property
    def region(self) -> str:
        return self._api.region

    @property
    def clock(self) -> Callable[[], float]:
        return self._fleet.clock

    @property
    def token_ttl(self) -> float:
        return self._sessions.token_ttl

    @property
    def start_delay(self) -> float:
        return self._fleet.start_delay

    @property
    def organization_id(self) -> str:
        return self._fleet.organization_id

    def expire_tokens(self) -> None:
        """Every login bearer and Conversation Builder token issued so far stops working."""
        self._sessions.expire()

    def issued_tokens(self) -> list[str]:
        """Every bearer, csrf and CB token handed out (tests check none leaks into logs)."""
        return self._sessions.issued()

    # ------------------------------------------------------------------ fleet

    def rebuild(
        self,
        *,
        bots: int | None = None,
        connectors: int | None = None,
        seed: int | None = None,
        messy: bool | None = None,
        duplicates: bool | None = None,
    ) -> None:
        """Replace the fleet; what is not given stays as it was (size: as many bots)."""
        self._fleet.rebuild(
            bots=bots, connectors=connectors, seed=seed, messy=messy, duplicates=duplicates
        )

    def fleet(self) -> JSONDict:
        """``{bots, connectors, entries, seed, messy, duplicates}``: the fleet's size and making.

        ``connectors`` counts the Survey Connector once; ``entries`` counts one per PCS bot
        (what the status lists hold, duplicates aside).
        """
        return self._fleet.describe()

    def bots(self) -> list[JSONDict]:
        """Every status-list entry (copies): one per connector, custom bots then PCS bots.

        A bot with several connectors has several entries (same ``botId``); a fleet with
        duplicates has the repeated entries twice. The order is stable, unlike LivePerson's.
        """
        return self._fleet.entries()

    def platform_bots(self) -> list[JSONDict]:
        """The fleet as the bot platform lists it (every bot has its name there)."""
        return self._fleet.platform_bots()

    def connectors(self, bot_id: str) -> list[JSONDict]:
        """The bot's connectors: each entry's fields (none left out), ``starts``, ``stops``,
        ``hiddenFields``, ``listedTwice``, ``sharedByPcsBots``. ``KeyError``: no such bot."""
        return self._fleet.connectors(bot_id)

    def set_fields(self, bot_id: str, user: str | None = None, **fields: Any) -> None:
        """Change status-list fields (``None`` removes one); PATCH /_sandbox/bots/{id}.

        ``user`` names one connector (its ``lpAccountUser``); None means every connector of
        the bot. A PCS bot's statuses are the shared Survey Connector's: setting them changes
        every PCS bot. ``botName`` with a ``user`` names that entry only. ``KeyError``: no
        such bot or connector; ``ValueError``: a field that cannot be set.
        """
        self._fleet.set_fields(bot_id, user, **fields)

    def add_bot(self, name: str, *, like: str) -> str:
        """A new bot named ``name``, in the state of bot ``like`` (kind, channel, statuses,
        connectors), with its own id and bot users; returns the id."""
        return self._fleet.add_bot(name, like=like)

    def start_count(self, bot_id: str, user: str | None = None) -> int:
        """Starts LivePerson accepted for the connector (None: summed over the bot's)."""
        return self._fleet.start_count(bot_id, user)

    def stop_count(self, bot_id: str, user: str | None = None) -> int:
        """Stops LivePerson accepted for the connector (None: summed over the bot's)."""
        return self._fleet.stop_count(bot_id, user)

    def flap(self, bot_id: str, field: str, values: list[str], user: str | None = None) -> None:
        """Each status-list fetch that lists the bot sets ``field`` of the connector
        (None: of every connector of the bot) to the next of ``values``."""
        self._fleet.flap(bot_id, field, values, user)

    def clear_flaps(self) -> None:
        self._fleet.clear_flaps()

    # ------------------------------------------------------------ agent metrics

    def agent_records(self) -> list[JSONDict]:
        """What the Agent Metrics API lists now: one record per logged-in agent."""
        return self._agent_metrics.records(self._fleet.clock())

    def pin_conversations(self, user: str, count: int | None) -> None:
        """Fix the open conversations of the connector with bot user ``user`` (None: they
        move again); POST /_sandbox/conversations."""
        self._agent_metrics.pin(user, count)

    # ------------------------------------------------------------------ faults

    def add_fault(
        self,
        kind: str,
        *,
        seconds: float = 0.0,
        status: int | None = None,
        retry_after: int | None = None,
        times: int = 1,
        path: str | None = None,
        field: str = "nodeStatus",
    ) -> None:
        """Queue a fault for the next matching API request (``times=-1``: until cleared)."""
        self._faults.add(Fault(kind, seconds, status, retry_after, times, path, field))

    def clear_faults(self) -> None:
        self._faults.clear()

    def faults(self) -> list[JSONDict]:
        return self._faults.queued()

    def requests(self) -> list[JSONDict]:
        """API requests seen (control API calls are not recorded), oldest first."""
        return self._faults.requests()

    def clear_requests(self) -> None:
        self._faults.clear_requests()

"""The permission guard: one Bolt middleware that decides every request before any listener.

It runs for every command, click and event. It works out what the request needs from what
was declared where its listener was registered (``Guard.command``, ``Guard.action``,
``Guard.event``), resolves the user's access once (``context["access"]``, read by the
listeners through :func:`access_of`), and refuses there and then what the user may not do:
the refusal goes where the person looks (the command's reply, the interaction's
``response_url``, or their Home tab), and a refused Start, Stop, mute or unmute is audited.

Default deny: a request no declaration covers (a listener registered on the app directly,
``app.action(...)``, or a payload chatops never asked for) is refused for everyone, so a
new listener cannot forget its check.

What needs a bot is checked where the bot is known, with the same ``Access``: the stored bot
of a Start or Stop (``ConnectorControl``), the bots a mute covers (``MuteService``), the bots
a view lists (``Views``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request import payload_utils
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from chatops.jsontypes import JSONDict
from chatops.permissions import Access, AccessLookupError, Permission
from chatops.slack import blocks
from chatops.slack.results import Outcome
from chatops.slack.services import SlackServices

log = logging.getLogger(__name__)

ACCESS = "access"
# What Slack sends that no declaration covers is refused with these words.
NOT_HANDLED = "chatops does not handle this request, so nothing was done."


@dataclass(frozen=True, slots=True)
class Need:
    """What one request needs: ``permission`` on at least one bot (None: nothing, as for
    the help text), and for a mutating request the audit row a refusal leaves
    (``audited``: action and target)."""

    permission: Permission | None
    audited: tuple[str, str] | None = None


Body = JSONDict
NeedOf = Callable[[Body], Need]
Decorator = Callable[[Callable[..., Awaitable[None]]], Any]


def access_of(context: AsyncBoltContext) -> Access:
    """The access the guard resolved for this request's user."""
    access = context.get(ACCESS)
    if not isinstance(access, Access):
        raise LookupError("no access in this request's context: its need declares no permission")
    return access


def click_id(body: Body) -> str:
    """Identifies one click: Slack gives each interaction its own trigger id (the action's
    timestamp when a payload has none); "" for a body that has neither."""
    action = (body.get("actions") or [{}])[0]
    return str(body.get("trigger_id") or action.get("action_ts") or "")


def _user_name(body: Body) -> str | None:
    user = body.get("user")
    if isinstance(user, dict):
        return user.get("username") or user.get("name")
    name = body.get("user_name")
    return str(name) if name else None


class Guard:
    """Declares what each listener needs, registers it, and checks every request."""

    def __init__(self, app: AsyncApp, services: SlackServices) -> None:
        self.app = app
        self.services = services
        self._commands: dict[str, NeedOf] = {}
        self._actions: dict[str, NeedOf] = {}
        self._events: dict[str, NeedOf] = {}
        app.use(self._check)

    # -- declaring ---------------------------------------------------------------------------

    def command(self, name: str, needs: Need | NeedOf) -> Decorator:
        self._commands[name] = _need_of(needs)
        decorator: Decorator = self.app.command(name)
        return decorator

    def action(self, action_id: str, needs: Need | NeedOf) -> Decorator:
        self._actions[action_id] = _need_of(needs)
        decorator: Decorator = self.app.action(action_id)
        return decorator

    def event(self, event_type: str, needs: Need | NeedOf) -> Decorator:
        self._events[event_type] = _need_of(needs)
        decorator: Decorator = self.app.event(event_type)
        return decorator

    def need(self, body: Body) -> Need | None:
        """What the request needs; None when nothing declared covers it."""
        need_of: NeedOf | None = None
        if body.get("command"):
            need_of = self._commands.get(str(body["command"]))
        elif body.get("type") == "block_actions":
            # Bolt matches a click on its first action; so does the guard.
            action = _first_action(body)
            need_of = self._actions.get(str(action.get("action_id")))
        elif body.get("type") == "event_callback":
            event = body.get("event")
            if isinstance(event, dict):
                need_of = self._events.get(str(event.get("type")))
        return need_of(body) if need_of is not None else None

    # -- checking ----------------------------------------------------------------------------

    async def _check(
        self, context: AsyncBoltContext, body: Body, next: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        need = self.need(body)
        if need is None:
            log.error("refused %s: no permission is declared for it", _describe(body))
            return await self._refuse(context, body, NOT_HANDLED)
        if need.permission is None:
            await next()
            return None
        permissions = self.services.permissions
        user_id = context.user_id or ""
        try:
            access = await permissions.access(user_id)
        except AccessLookupError as exc:
            message = permissions.lookup_failure(exc)
            await self._audit(need, user_id, body, Outcome.LOOKUP_FAILED, message)
            return await self._refuse(context, body, message)
        if not access.can(need.permission):
            message = permissions.refusal(need.permission)
            await self._audit(need, user_id, body, Outcome.REFUSED, message)
            return await self._refuse(context, body, message)
        context[ACCESS] = access
        await next()
        return None

    async def _refuse(self, context: AsyncBoltContext, body: Body, message: str) -> BoltResponse:
        """Tell the person, where they look; the returned ack ends the request here."""
        refusal = blocks.refusal(message)
        if body.get("command"):
            return await context.ack(response_type="ephemeral", **refusal)
        ack = await context.ack()
        self.services.spawn(self._tell(context, message), name="refusal")
        return ack

    async def _tell(self, context: AsyncBoltContext, message: str) -> None:
        if context.response_url and context.respond is not None:
            await context.respond(
                response_type="ephemeral", replace_original=False, **blocks.refusal(message)
            )
        elif context.user_id and context.client is not None:
            # A click in App Home, or the tab being opened: the tab says it.
            view = blocks.home_refusal(message)
            await context.client.views_publish(user_id=context.user_id, view=view)

    async def _audit(
        self, need: Need, user_id: str, body: Body, outcome: Outcome, detail: str
    ) -> None:
        if need.audited is None:
            return
        action, target = need.audited
        await self.services.control.refused(
            action,
            target,
            user_id=user_id,
            user_name=_user_name(body),
            outcome=outcome.value,
            message=detail,
            click_id=click_id(body) or None,
        )


# What Bolt hands every function middleware and listener, read from the body before any of
# them runs (slack_bolt.kwargs_injection): a payload these cannot read fails there.
_BOLT_READS = (
    payload_utils.to_options,
    payload_utils.to_shortcut,
    payload_utils.to_action,
    payload_utils.to_view,
    payload_utils.to_command,
    payload_utils.to_event,
    payload_utils.to_message,
    payload_utils.to_step,
)


def unreadable(body: Body) -> str | None:
    """Why Bolt cannot read ``body`` (None: it can), e.g. a click with ``"actions": []``."""
    for read in _BOLT_READS:
        try:
            read(body)
        except (LookupError, TypeError, AttributeError) as exc:
            return f"{read.__name__}: {type(exc).__name__}"
    return None


class UnreadablePayloads(AsyncMiddleware):
    """Acks and drops, with a warning, a signed payload Bolt cannot read, before the guard
    and every other middleware (Bolt would answer HTTP 500 while building their arguments).
    Slack sends no such payload; nobody is told, nothing runs, nothing is audited."""

    async def async_process(
        self,
        *,
        req: AsyncBoltRequest,
        resp: BoltResponse,
        next: Callable[[], Awaitable[BoltResponse]],
    ) -> BoltResponse | None:
        problem = unreadable(req.body)
        if problem is None:
            return await next()
        log.warning("ignored %s: Bolt cannot read it (%s)", _describe(req.body), problem)
        return BoltResponse(status=200, body="")


def _need_of(needs: Need | NeedOf) -> NeedOf:
    if isinstance(needs, Need):
        fixed = needs
        return lambda _: fixed
    return needs


def _first_action(body: Body) -> dict[str, Any]:
    actions = body.get("actions")
    first = actions[0] if isinstance(actions, list) and actions else None
    return first if isinstance(first, dict) else {}


def _describe(body: Body) -> str:
    if body.get("command"):
        return f"the command {body['command']}"
    if body.get("type") == "block_actions":
        return f"the action {_first_action(body).get('action_id')!r}"
    if body.get("type") == "event_callback":
        event = body.get("event")
        return f"the event {event.get('type') if isinstance(event, dict) else None!r}"
    return f"a {body.get('type') or 'request'} payload"

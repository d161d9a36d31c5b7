"""From a poll's alert plan (chatops.alerts.plan) to outbox rows.

Items for one channel are written one row each, or, when there are more than
``alerts.digest_after`` of them, as one digest; edits of the original messages still
happen, since they add nothing to the channel. A digest whose bots have all recovered is
edited to say so. Rows say what the relay does (``payload``): edit a message, then post one,
in a thread or not. Keys are unique per poll, bot and kind.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from chatops.alerts import render
from chatops.alerts.plan import Item, Plan, Render
from chatops.jsontypes import JSONDict
from chatops.store.acks import owner_of
from chatops.store.alert_models import AlertIncident
from chatops.store.incidents import add_incidents, count_children, get_incident
from chatops.store.models import OutboxMessage
from chatops.store.outbox import add_rows, get_row


def payload(
    *, post: JSONDict | None = None, in_thread: bool = False, update: JSONDict | None = None
) -> str:
    """The outbox row's instructions for the relay: edit a message, then post one."""
    return json.dumps({"post": post, "in_thread": in_thread, "update": update})


def new_row(
    *,
    kind: str,
    channel: str,
    dedupe_key: str,
    body: str,
    now: datetime,
    incident_id: int | None = None,
    bot_id: str | None = None,
    poll_id: int | None = None,
) -> OutboxMessage:
    """An outbox row due at once; ``body`` comes from ``payload()``."""
    return OutboxMessage(
        dedupe_key=dedupe_key[:300],
        created_at=now,
        kind=kind,
        channel=channel,
        bot_id=bot_id,
        incident_id=incident_id,
        poll_id=poll_id,
        payload=body,
        next_attempt_at=now,
    )


async def write_plan(
    session: AsyncSession, plan: Plan, *, poll_id: int, digest_after: int, now: datetime
) -> int:
    """Write the plan's incidents and outbox rows; return how many rows were written.

    The bots' state rows learn the incidents opened for them.
    """
    by_channel: dict[str, list[Item]] = defaultdict(list)
    for item in plan.items:
        by_channel[item.channel].append(item)
    # New incidents need ids before their rows can point at them.
    await add_incidents(session, [item.opens for item in plan.items if item.opens is not None])
    writer = _RowWriter(session, poll_id, now)
    for channel, items in by_channel.items():
        if len(items) > digest_after:
            await _write_digest(writer, channel, items, plan)
        else:
            for item in items:
                _write_single(writer, item, plan)
    for incident, update, kind in plan.edits:
        # A bot announced in a digest has no message of its own to edit.
        if incident.parent_id is None:
            writer.edit(incident, update, kind)
    await writer.flush()
    await _close_finished_digests(session, writer, plan.touched_digests, now)
    await writer.flush()
    _link_bots(plan)
    return writer.written


def _write_single(writer: _RowWriter, item: Item, plan: Plan) -> None:
    bot_id = item.bot.id
    kind = item.decision.kind.value
    if item.opens is not None:
        writer.opening(item.opens, _rendered(item.message), kind, bot_id)
    elif item.follows is not None:
        follows = item.follows
        if follows.parent_id is not None:
            # Announced in a digest: reply in the digest's thread, leave the digest as is.
            plan.touched_digests.add(follows.parent_id)
            if item.reply is not None:
                writer.reply_to(follows.parent_id, follows.channel, item.reply(), kind, bot_id)
        else:
            writer.follow_up(follows, _rendered(item.reply), _rendered(item.update), kind, bot_id)
    elif item.message is not None:
        writer.post(item.channel, item.message(), kind, bot_id)


async def _write_digest(writer: _RowWriter, channel: str, items: list[Item], plan: Plan) -> None:
    digest_items = [
        render.DigestItem(
            item.bot.name,
            item.group,
            item.health,
            len(item.bot.problem_connectors),
            len(item.bot.connectors),
        )
        for item in items
    ]
    opening = [item.opens for item in items if item.opens is not None]
    message = render.digest(digest_items, writer.now, acknowledge=bool(opening))
    for item in items:
        follows = item.follows
        if follows is None:
            continue
        if follows.parent_id is not None:
            plan.touched_digests.add(follows.parent_id)
        elif item.update is not None:
            # The outage's own message still shows its end; the digest tells the rest.
            writer.follow_up(follows, None, item.update(), "edit", item.bot.id)
    roots = {item.follows.parent_id for item in items if item.follows is not None}
    if not opening and len(roots) == 1 and None not in roots:
        # Every item follows up one earlier digest: answer in its thread.
        (root,) = roots
        assert root is not None
        writer.reply_to(root, channel, message, "digest", None)
        return
    if not opening:
        writer.post(channel, message, "digest", None)
        return
    digest = AlertIncident(
        kind="digest",
        channel=channel,
        health=min((item.health for item in items), key=lambda h: h.severity).value,
        since=writer.now,
        opened_at=writer.now,
    )
    await add_incidents(writer.session, [digest])
    for incident in opening:
        incident.parent_id = digest.id
    writer.opening(digest, message, "digest", None, children=opening)


async def _close_finished_digests(
    session: AsyncSession, writer: _RowWriter, digest_ids: set[int], now: datetime
) -> None:
    for digest_id in sorted(digest_ids):
        digest = await get_incident(session, digest_id)
        if digest is None or digest.closed_at is not None:
            continue
        if await count_children(session, digest_id, open_only=True):
            continue
        children = await count_children(session, digest_id, open_only=False)
        digest.closed_at = now
        digest.resolution = "resolved"
        original = await get_row(session, digest.outbox_id) if digest.outbox_id else None
        if original is None:
            continue
        post = json.loads(original.payload).get("post") or {}
        resolved = render.digest_resolved(post, children, now, owner_of(digest))
        writer.edit(digest, resolved, "edit")


def _link_bots(plan: Plan) -> None:
    """The bots' state rows learn their new incident (ids exist once flushed)."""
    for item in plan.items:
        if item.opens is None:
            continue
        if item.opens.kind == "flapping":
            item.row.flapping_id = item.opens.id
        else:
            item.row.incident_id = item.opens.id
        item.row.dirty = True


def _rendered(make: Render | None) -> JSONDict | None:
    return None if make is None else make()


class _RowWriter:
    """Builds the outbox rows of one poll; keys are unique per poll, bot and kind."""

    def __init__(self, session: AsyncSession, poll_id: int, now: datetime) -> None:
        self.session = session
        self.poll_id = poll_id
        self.now = now
        self.written = 0
        self._rows: list[tuple[OutboxMessage, list[AlertIncident]]] = []
        self._keys: set[str] = set()

    def _key(self, kind: str, subject: str) -> str:
        base = f"poll:{self.poll_id}:{kind}:{subject}"
        key, number = base, 1
        while key in self._keys:
            number += 1
            key = f"{base}:{number}"
        self._keys.add(key)
        return key[:300]

    def _row(
        self,
        kind: str,
        channel: str,
        subject: str,
        body: str,
        *,
        bot_id: str | None,
        incident_id: int | None,
    ) -> OutboxMessage:
        row = new_row(
            kind=kind,
            channel=channel,
            dedupe_key=self._key(kind, subject),
            body=body,
            now=self.now,
            incident_id=incident_id,
            bot_id=bot_id,
            poll_id=self.poll_id,
        )
        self.written += 1
        return row

    def opening(
        self,
        incident: AlertIncident,
        message: JSONDict | None,
        kind: str,
        bot_id: str | None,
        *,
        children: Sequence[AlertIncident] = (),
    ) -> None:
        row = self._row(
            kind,
            incident.channel,
            f"incident:{incident.id}",
            payload(post=message),
            bot_id=bot_id,
            incident_id=incident.id,
        )
        self._rows.append((row, [incident, *children]))

    def follow_up(
        self,
        incident: AlertIncident,
        reply: JSONDict | None,
        update: JSONDict | None,
        kind: str,
        bot_id: str | None,
    ) -> None:
        body = payload(post=reply, in_thread=True, update=update)
        row = self._row(
            kind,
            incident.channel,
            f"incident:{incident.id}",
            body,
            bot_id=bot_id,
            incident_id=incident.id,
        )
        self._rows.append((row, []))

    def reply_to(
        self, incident_id: int, channel: str, reply: JSONDict, kind: str, bot_id: str | None
    ) -> None:
        body = payload(post=reply, in_thread=True)
        row = self._row(
            kind,
            channel,
            f"incident:{incident_id}:{bot_id or ''}",
            body,
            bot_id=bot_id,
            incident_id=incident_id,
        )
        self._rows.append((row, []))

    def edit(self, incident: AlertIncident, update: JSONDict, kind: str) -> None:
        row = self._row(
            kind,
            incident.channel,
            f"incident:{incident.id}",
            payload(update=update),
            bot_id=incident.bot_id,
            incident_id=incident.id,
        )
        self._rows.append((row, []))

    def post(self, channel: str, message: JSONDict, kind: str, bot_id: str | None) -> None:
        row = self._row(
            kind,
            channel,
            f"{channel}:{bot_id or ''}",
            payload(post=message),
            bot_id=bot_id,
            incident_id=None,
        )
        self._rows.append((row, []))

    async def flush(self) -> None:
        await add_rows(self.session, self._rows)
        self._rows.clear()

"""Digests: many bots that went down (or came back) at once, in one message grouped by
what happened, and its reminder and resolution."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from chatops.alerts.render import pieces
from chatops.blockkit.limits import MAX_BLOCKS, MAX_SECTION_TEXT
from chatops.blockkit.text import (
    age,
    date_token,
    escape_within,
    truncate,
)
from chatops.domain import Health
from chatops.jsontypes import JSONDict
from chatops.store.acks import Owner

# A digest lists at most this many names per group and this many overall; the counts
# always cover every bot, and /botstatus problems pages through the rest.
DIGEST_NAMES_PER_GROUP: Final = 60


DIGEST_NAMES_TOTAL: Final = 200


@dataclass(frozen=True, slots=True)
class DigestItem:
    """One bot in a digest: its name and the group it is counted in (``group_key``)."""

    bot_name: str
    group: str  # problem, recovered, flapping, stopped_by_hand, started_by_hand, settled
    health: Health
    # How many of the bot's connectors are not OK, and how many it has.
    connectors_down: int = 0
    connectors: int = 1


_GROUP_TITLES: Final = {
    "recovered": (":large_green_circle:", "Recovered"),
    "flapping": (":warning:", "Flapping"),
    "stopped_by_hand": (":black_circle:", "Stopped by hand"),
    "started_by_hand": (":large_green_circle:", "Started by hand"),
}


def _group_title(item: DigestItem) -> tuple[int, str, str]:
    """(sort key, emoji, title) of the group an item is counted in; problems first."""
    if item.group in ("problem", "settled"):
        return item.health.severity, item.health.emoji, item.health.label
    order = list(_GROUP_TITLES)
    emoji, title = _GROUP_TITLES.get(item.group, (":grey_question:", item.group))
    rank = order.index(item.group) if item.group in order else len(order)
    return 100 + rank, emoji, title


def digest(items: Sequence[DigestItem], at: datetime, *, acknowledge: bool = False) -> JSONDict:
    """Many alerts of one poll for one channel: counts per group, then the names;
    ``acknowledge``: the digest opens outages, and has an Acknowledge button for them."""
    groups: dict[tuple[int, str, str], list[str]] = {}
    for item in items:
        name = item.bot_name
        if item.connectors > 1 and item.group in ("problem", "settled"):
            name = f"{name} ({item.connectors_down} of {item.connectors} connectors)"
        groups.setdefault(_group_title(item), []).append(name)
    ordered = sorted(groups.items())
    total = len(items)
    counts = "   ".join(f"{emoji} *{len(names):,}* {title}" for (_, emoji, title), names in ordered)
    connectors = sum(item.connectors_down for item in items if item.group in ("problem", "settled"))
    heading = f":rotating_light: *{total:,} bot alerts* at {date_token(at)}"
    if connectors:
        heading += f", {connectors:,} connectors not OK"
    blocks = pieces.headline(f"{heading}\n{counts}", None, "digest" if acknowledge else None)
    listed = 0
    for (_, emoji, title), names in ordered:
        room = min(DIGEST_NAMES_PER_GROUP, DIGEST_NAMES_TOTAL - listed)
        shown = sorted(names, key=str.casefold)[: max(room, 0)]
        listed += len(shown)
        line = ", ".join(escape_within(name, 80) for name in shown)
        more = len(names) - len(shown)
        if more:
            line = f"{line} and {more:,} more" if line else f"{more:,} bots"
        text = f"{emoji} *{title}* ({len(names):,})\n{line}"
        if len(text) > MAX_SECTION_TEXT:
            text = truncate(text, MAX_SECTION_TEXT)
        blocks.append(pieces.md_section(text))
        if len(blocks) >= MAX_BLOCKS["message"] - 1:
            break
    blocks.append(
        pieces.md_context(
            "`/botstatus problems` lists every problem bot; replies in this thread follow up."
        )
    )
    parts = ", ".join(f"{len(names):,} {title}" for (_, _, title), names in ordered)
    return pieces.alert_message(f"{total:,} bot alerts: {parts}", blocks)


def digest_resolved(
    original: Mapping[str, Any], count: int, at: datetime, owner: Owner | None = None
) -> JSONDict:
    """A digest whose every bot is resolved: the original with a banner on top, without its
    Acknowledge button, saying who had acknowledged it."""
    banner = pieces.md_context(
        f":white_check_mark: All {count:,} bots of this digest resolved by {date_token(at)}."
    )
    kept = pieces.owned(original, owner, over=True)["blocks"]
    blocks = [banner, *kept[: MAX_BLOCKS["message"] - 1]]
    return pieces.alert_message(f"Resolved: {original.get('text', '')}", blocks)


def digest_reminder(
    open_counts: Mapping[Health, int], opened_at: datetime, now: datetime
) -> JSONDict:
    still = sum(open_counts.values())
    parts = "   ".join(
        f"{health.emoji} *{count:,}* {health.label}"
        for health, count in sorted(open_counts.items(), key=lambda pair: pair[0].severity)
    )
    text = (
        f":alarm_clock: Still open: *{still:,}* bots of this digest, since "
        f"{date_token(opened_at)} ({age(now, opened_at)}).\n{parts}"
    )
    return pieces.alert_message(f"Still open: {still:,} bots", [pieces.md_section(text)])


def health_counts(healths: Sequence[Health]) -> Counter[Health]:
    return Counter(healths)

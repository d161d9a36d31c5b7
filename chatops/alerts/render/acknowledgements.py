"""The replies to an Acknowledge (or its release), and how an alert names its subject there."""

from __future__ import annotations

from datetime import datetime

from chatops.alerts.render import pieces
from chatops.blockkit.text import (
    date_token,
    mention,
)
from chatops.jsontypes import JSONDict
from chatops.store.acks import Owner
from chatops.store.cards import BotCard
from chatops.store.models import Bot


def acknowledged_reply(owner: Owner, subject: str | None = None) -> JSONDict:
    """In the alert's thread: who took it. ``subject`` names the bot or bots when the thread
    is a digest's (None: the alert itself)."""
    what = f"acknowledged {subject}" if subject else "acknowledged this alert"
    text = (
        f":eyes: {mention(owner.user_id)} {what} at {date_token(owner.since)}. No reminders "
        "while it is acknowledged."
    )
    return pieces.alert_message(f"Acknowledged by {owner.user_id}", [pieces.md_section(text)])


def released_reply(by: str, owner: Owner, subject: str | None, at: datetime) -> JSONDict:
    """In the alert's thread: ``by`` released the acknowledgement ``owner`` held."""
    what = f" of {subject}" if subject else ""
    held = "their" if by == owner.user_id else f"{mention(owner.user_id)}'s"
    text = (
        f":raised_hand: {mention(by)} released {held} acknowledgement{what} "
        f"(since {date_token(owner.since)}) at {date_token(at)}. Reminders resume."
    )
    return pieces.alert_message(f"Acknowledgement released by {by}", [pieces.md_section(text)])


def bot_subject(bot: Bot | BotCard) -> str:
    """A bot as the subject of a reply in a digest's thread."""
    return pieces.bold_name(bot)

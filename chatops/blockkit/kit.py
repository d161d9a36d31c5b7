"""Block Kit objects: text objects, sections, headers, context, buttons, confirm dialogs and
whole messages, each cut to Slack's limits. Pure functions.

``message`` checks the finished payload against ``chatops.blockkit.limits`` whenever Python
runs without ``-O``, so a renderer that breaks a limit fails its tests, not in Slack.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from chatops.blockkit.limits import (
    MAX_FIELD_TEXT,
    MAX_MESSAGE_TEXT,
    MAX_SECTION_TEXT,
    assert_within_limits,
)
from chatops.blockkit.text import one_line, truncate
from chatops.jsontypes import JSONDict


def plain(text: str, limit: int) -> JSONDict:
    return {"type": "plain_text", "text": truncate(one_line(text), limit) or " ", "emoji": True}


def mrkdwn(text: str) -> JSONDict:
    return {"type": "mrkdwn", "text": text}


def section(text: str) -> JSONDict:
    return {"type": "section", "text": mrkdwn(truncate(text, MAX_SECTION_TEXT))}


def header(text: str) -> JSONDict:
    return {"type": "header", "text": plain(text, 150)}


def context(*texts: str) -> JSONDict:
    return {"type": "context", "elements": [mrkdwn(truncate(t, 3000)) for t in texts]}


def divider() -> JSONDict:
    return {"type": "divider"}


def pack(lines: Iterable[str], limit: int = MAX_SECTION_TEXT) -> list[str]:
    """Join lines into as few texts of at most ``limit`` characters as they fit in."""
    texts: list[str] = []
    current: list[str] = []
    size = 0
    for line in lines:
        line = truncate(line, limit)
        added = len(line) + (1 if current else 0)
        if current and size + added > limit:
            texts.append("\n".join(current))
            current, size = [], 0
            added = len(line)
        current.append(line)
        size += added
    if current:
        texts.append("\n".join(current))
    return texts


def message(text: str, blocks: list[JSONDict]) -> JSONDict:
    payload = {"text": truncate(text, MAX_MESSAGE_TEXT), "blocks": blocks}
    if __debug__:
        assert_within_limits(payload, surface="message")
    return payload


def button(text: str, action_id: str, value: str, *, style: str | None = None) -> JSONDict:
    button: JSONDict = {
        "type": "button",
        "text": plain(text, 75),
        "action_id": action_id,
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def confirm(title: str, text: str, confirm: str, *, danger: bool) -> JSONDict:
    dialog: JSONDict = {
        "title": plain(title, 100),
        "text": mrkdwn(truncate(text, 300)),
        "confirm": plain(confirm, 30),
        "deny": plain("Cancel", 30),
    }
    if danger:
        dialog["style"] = "danger"
    return dialog


def with_fields(section: JSONDict, fields: Sequence[str]) -> JSONDict:
    section["fields"] = [mrkdwn(truncate(field, MAX_FIELD_TEXT)) for field in fields]
    return section

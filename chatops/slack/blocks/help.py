"""``/botstatus help`` and the answer to a refused or unresolvable request."""

from __future__ import annotations

from chatops.blockkit import kit
from chatops.blockkit.text import code, escape, escape_within, one_line
from chatops.jsontypes import JSONDict
from chatops.slack.blocks.lists import BOTS_PER_PAGE


def help_text(suggestion: str | None = None, problem: str | None = None) -> JSONDict:
    """The grammar, with what was wrong and a "did you mean" when the grammar has one."""
    blocks = []
    lead = []
    if problem:
        lead.append(f":warning: {escape_within(problem, 500)}")
    if suggestion:
        lead.append(f"Did you mean {code('/botstatus ' + suggestion, 300)}?")
    if lead:
        blocks.append(kit.section("\n".join(lead)))
    usage = [
        ("", "counts per health, problem bots first, age of the data"),
        (
            "<query>",
            "matching bots (by name or bot user) in detail, every connector with Start, Stop "
            "and Restart if you may use them",
        ),
        ("problems [page]", "every bot that is not OK, most urgent first"),
        ("all [page]", f"every bot by name, {BOTS_PER_PAGE} a page"),
        ("history <bot>", "recent transitions and time in each health over 24 h and 7 days"),
        (
            "mute <bot|glob> <duration> [reason]",
            "no alerts for these bots for a while (30m, 4h, 2d)",
        ),
        ("unmute <bot|glob>", "alerts again"),
        ("mutes", "what is muted, by whom and until when"),
        (
            "maintenance <bot|glob> <start> <duration> [reason]",
            "a maintenance window: no alerts meanwhile, announced in the channel; start is now, "
            "HH:MM or an ISO time, in your time zone",
        ),
        ("maintenance", "maintenance windows in force and to come"),
        ("maintenance cancel <id>", "end a maintenance window now"),
        (
            "restart <bot|glob>",
            "stop, then start every connector of these bots; says how many and asks first",
        ),
        ("ack <bot>", "acknowledge the bot's open alert: you own it, reminders stop"),
        ("unack <bot>", "release that acknowledgement: reminders resume"),
        ("help", "this text"),
    ]
    lines = [f"`{escape(('/botstatus ' + form).strip())}`  {text}" for form, text in usage]
    blocks.append(kit.section("*What `/botstatus` understands*\n" + "\n".join(lines)))
    blocks.append(
        kit.context("Replies are only visible to you; *Share in channel* posts them for everyone.")
    )
    fallback = "/botstatus help"
    if suggestion:
        fallback = f"Did you mean /botstatus {one_line(suggestion)[:200]}? " + fallback
    return kit.message(escape(fallback), blocks)


def refusal(message: str) -> JSONDict:
    """A refused or unresolvable request; ``message`` is ours (mrkdwn), never user input."""
    return kit.message(message, [kit.section(f":no_entry: {message}")])

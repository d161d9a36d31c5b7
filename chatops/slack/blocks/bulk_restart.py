"""``/botstatus restart <bot|glob>``: the request naming its bots and connectors with one
Restart button, the refusals, and the result per bot and connector.

``restart_bots`` is the Restart button's action id; its value is the target and a digest of
the bots it named when asked (``restart_value``), so a click restarts nothing when the
target has come to name other bots since.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

from chatops.blockkit import kit
from chatops.blockkit.controls import connector_names, json_pair, json_value
from chatops.blockkit.rows import COMPACT_NAME, bot_health, is_pcs
from chatops.blockkit.text import (
    code,
    date_token,
    escape,
    escape_within,
    fallback_mention,
    mention,
    one_line,
    plural,
)
from chatops.jsontypes import JSONDict
from chatops.slack import grammar
from chatops.slack.blocks.outcomes import RESULT_SECTIONS, connector_outcome_line
from chatops.slack.restart import RestartPlan
from chatops.slack.results import ActionResult, Outcome
from chatops.store.cards import BotCard

ACTION_RESTART_BOTS: Final = "restart_bots"


def restart_value(target: str, digest: str) -> str:
    """The Restart button of a restart request: the target and the digest of its bots."""
    return json_value(target=target, digest=digest)


def parse_restart_value(value: str) -> tuple[str, str] | None:
    """(target, digest) from a ``restart_bots`` button's value; None for anything else."""
    return json_pair(value, "target", "digest")


def _restart_line(bot: BotCard) -> str:
    health = bot_health(bot.bot)
    users = [c.bot_user for c in bot.connectors]
    connectors = plural(len(users), "connector")
    if is_pcs(bot):
        connectors = "the shared survey connector"
    elif users:
        connectors += f": {connector_names(users, 400)}"
    return f"{health.emoji} *{escape_within(bot.name, COMPACT_NAME)}* {health.label} · {connectors}"


def restart_request(plan: RestartPlan) -> JSONDict:
    """The answer to ``/botstatus restart <target>``: how many bots and connectors it names,
    each bot with its connectors, and one Restart button (behind a confirm dialog)."""
    bots, connectors = len(plan.bots), plan.connector_count
    command = code("/botstatus " + grammar.Restart(plan.target).text, 300)
    blocks = [
        kit.header(f"Restart {plural(bots, 'bot')}?"),
        kit.section(
            f"{command} names *{plural(bots, 'bot')}* with *{plural(connectors, 'connector')}*."
            " Each connector stops, then starts, one after another; a bot answers no "
            "conversation on a connector until that one is Online again."
        ),
    ]
    if plan.pcs_bots:
        blocks.append(
            kit.context(
                f"{plural(plan.pcs_bots, 'PCS bot')} share{'s' if plan.pcs_bots == 1 else ''} "
                "the account's one survey connector: it restarts once, and every survey bot "
                f"({max(plan.pcs_count, plan.pcs_bots):,} in all) restarts with it."
            )
        )
    texts = kit.pack(_restart_line(bot) for bot in plan.bots)
    blocks += [kit.section(text) for text in texts[:RESULT_SECTIONS]]
    names = ", ".join(one_line(bot.name) for bot in plan.bots[:3])
    if bots > 3:
        names += f" and {bots - 3:,} more"
    dialog = kit.confirm(
        f"Restart {plural(connectors, 'connector')}?",
        f"Restarts (stops, then starts) {plural(connectors, 'connector')} of "
        f"{plural(bots, 'bot')}: {escape_within(names, 200)}.",
        f"Restart {plural(connectors, 'connector')}",
        danger=True,
    )
    button = kit.button(
        "Restart", ACTION_RESTART_BOTS, restart_value(plan.target, plan.digest), style="danger"
    )
    button["confirm"] = dialog
    blocks.append({"type": "actions", "elements": [button]})
    fallback = (
        f"Restart {plural(bots, 'bot')} ({plural(connectors, 'connector')})? "
        f"{one_line(plan.target)[:200]}"
    )
    return kit.message(escape(fallback), blocks)


def restart_refused(target: str, outside: Sequence[BotCard], *, others: bool) -> JSONDict:
    """A restart refused as a whole because it names bots the user may not restart.

    ``outside`` are the bots the user can see but may not restart (named, a few); ``others``
    says that there are also bots the user cannot see, which are never named.
    """
    command = code(target, 200)
    text = (
        f":no_entry: {command} names bots you may not restart: a restart needs the *start* and "
        "*stop* permissions on every bot it names"
    )
    if outside:
        names = ", ".join(escape_within(bot.name, COMPACT_NAME) for bot in outside[:5])
        if len(outside) > 5:
            names += f" and {len(outside) - 5:,} more"
        text += f" ({names}{' and others' if others else ''})"
    text += ". Nothing was restarted. Name only bots you may start and stop."
    return kit.message(
        f"Not allowed to restart {escape(one_line(target)[:200])}", [kit.section(text)]
    )


def restart_too_many(plan: RestartPlan, limit: int) -> JSONDict:
    command = code(plan.target, 200)
    text = (
        f":warning: {command} names {plural(len(plan.bots), 'bot')}; a restart takes at most "
        f"{limit:,} at a time, so nothing was restarted. Narrow it (e.g. `billing-*`)."
    )
    return kit.message(f"Too many bots to restart: {len(plan.bots):,}", [kit.section(text)])


def restart_changed(plan: RestartPlan) -> JSONDict:
    """The Restart button of a request whose target now names other bots."""
    again = code("/botstatus " + grammar.Restart(plan.target).text, 300)
    text = (
        f":warning: The bots {code(plan.target, 200)} names changed since you asked (it now "
        f"names {plural(len(plan.bots), 'bot')} with "
        f"{plural(plan.connector_count, 'connector')}), so nothing was restarted. "
        f"{again} shows them again."
    )
    return kit.message("Nothing was restarted: the bots changed", [kit.section(text)])


def restart_result(
    user_id: str, at: datetime, target: str, results: Sequence[tuple[BotCard, ActionResult]]
) -> JSONDict:
    """What replaces a restart request once its Restart was clicked: per bot, per connector."""
    outcomes = [c for _, result in results for c in result.connectors]
    done = sum(1 for c in outcomes if c.outcome is Outcome.OK)
    bots_done = sum(1 for _, r in results if any(c.outcome is Outcome.OK for c in r.connectors))
    everything = done == len(outcomes) and bots_done == len(results) and done > 0
    again = all(r.outcome is Outcome.DUPLICATE for _, r in results)
    emoji = ":arrows_counterclockwise:" if everything else ":repeat:" if again else ":warning:"
    if again:
        text = (
            f"{emoji} {mention(user_id)} asked again at {date_token(at)}; every connector "
            "had already been requested, so nothing was sent again"
        )
    else:
        text = (
            f"{emoji} {mention(user_id)} restarted {plural(done, 'connector')} of "
            f"{plural(bots_done, 'bot')} at {date_token(at)}"
        )
        if not everything:
            text += ", not all it named (see below)"
    text += f" · {code('/botstatus ' + grammar.Restart(target).text, 300)}"
    lines = []
    for bot, result in results:
        name = f"*{escape_within(bot.name, COMPACT_NAME)}*"
        if result.connectors:
            parts = [connector_outcome_line(c, "restart") for c in result.connectors]
            lines.append(f"{name}: " + " · ".join(parts))
        else:
            lines.append(f":no_entry: {name}: {result.message}")
    blocks = [kit.section(text), *(kit.section(t) for t in kit.pack(lines)[:RESULT_SECTIONS])]
    blocks.append(
        kit.context(
            "Each connector was stopped, then started. The statuses here change at the next "
            "poll; you will hear when each connector is Online again."
        )
    )
    plain_who = fallback_mention(user_id)
    return kit.message(f"{plain_who} restarted {done:,} connectors", blocks)

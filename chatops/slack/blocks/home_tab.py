"""The App Home tab: the dashboard of one environment, and its refusal.

``home_environment`` is the environment filter's action id; the selected value is an
``Environment`` value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Final

from chatops.blockkit import kit
from chatops.blockkit.limits import MAX_BLOCKS, assert_within_limits
from chatops.blockkit.rows import bot_health
from chatops.domain import Environment, Health
from chatops.jsontypes import JSONDict
from chatops.slack.blocks.fleet import (
    AgentCounts,
    agents_line,
    compact_line,
    counts_line,
    data_age_line,
    problem_first,
)
from chatops.store.fleet_rows import BotRecord

ACTION_HOME_ENVIRONMENT: Final = "home_environment"
# The home tab shows problem bots first; past this, a list is no dashboard, and
# /botstatus all pages through the rest. 250 lines fit in about 20 of its 100 blocks.
HOME_MAX_BOTS: Final = 250


def home_view(
    bots: Sequence[BotRecord],
    counts: Mapping[Health, int],
    environment: Environment,
    data_age: timedelta | None,
    now: datetime,
    *,
    agents: AgentCounts | None = None,
    stale_after: timedelta | None = None,
    maintenance: Sequence[str] = (),
) -> JSONDict:
    """The seed's dashboard in the Home tab: every bot of one environment, problems first,
    with its bots per health (Degraded included) and LivePerson's agent counts.

    ``counts`` covers the whole environment; ``bots`` may be all of it or only the most
    urgent part. At most ``HOME_MAX_BOTS`` are listed, then how many more there are.
    """
    total = sum(counts.values())
    ordered = problem_first(bots)
    overview = (
        f"*{environment.label}*: *{total:,}* bot{'' if total == 1 else 's'}\n{counts_line(counts)}"
    )
    if agents is not None and total:
        overview += f"\n{agents_line(agents)}"
    blocks: list[JSONDict] = [
        kit.header("Bots Status"),
        {
            "type": "section",
            "text": kit.mrkdwn(overview),
            "accessory": _environment_select(environment),
        },
        kit.context(data_age_line(data_age, stale_after)),
    ]
    if maintenance:
        blocks.append(kit.section(kit.pack(["*In maintenance*", *maintenance])[0]))
    budget = MAX_BLOCKS["home"] - len(blocks) - 1  # keep one block for the "more" line
    problem_lines = [
        compact_line(bot, now) for bot in ordered[:HOME_MAX_BOTS] if bot_health(bot).is_problem
    ]
    ok_lines = [compact_line(bot, now) for bot in ordered[len(problem_lines) : HOME_MAX_BOTS]]
    listed = 0
    for title, lines in (("Problem bots", problem_lines), ("OK", ok_lines)):
        if not lines or budget < 3:
            continue
        blocks += [kit.divider(), kit.section(f"*{title}*")]
        budget -= 2
        for text in kit.pack(lines):
            if budget == 0:
                break
            blocks.append(kit.section(text))
            budget -= 1
            listed += text.count("\n") + 1
    if not total and not ordered:
        blocks.append(kit.section("No bots in this environment yet."))
    more = max(total, len(ordered)) - listed
    if more > 0:
        blocks.append(
            kit.context(
                f"and {more:,} more bot{'' if more == 1 else 's'}: "
                "`/botstatus all` pages through every bot, `/botstatus problems` the problem ones."
            )
        )
    view = {"type": "home", "blocks": blocks}
    if __debug__:
        assert_within_limits(view, surface="home")
    return view


def _environment_select(current: Environment) -> JSONDict:
    options = [
        {"text": kit.plain(environment.label, 75), "value": environment.value}
        for environment in Environment
    ]
    return {
        "type": "static_select",
        "action_id": ACTION_HOME_ENVIRONMENT,
        "placeholder": kit.plain("Environment", 150),
        "options": options,
        "initial_option": options[list(Environment).index(current)],
    }


def home_refusal(message: str) -> JSONDict:
    """The Home tab for someone without ``view`` (or whose access could not be checked)."""
    view = {
        "type": "home",
        "blocks": [
            kit.header("Bots Status"),
            kit.section(
                "This app shows the status of LivePerson bots and lets operators start "
                "and stop them."
            ),
            kit.section(f":no_entry: {message}"),
        ],
    }
    if __debug__:
        assert_within_limits(view, surface="home")
    return view

"""Block Kit renderers of the Slack surface: stored rows in, Slack payloads out. Pure
functions, no I/O.

Every message is ``{"text": fallback, "blocks": [...]}``: the handler adds
``response_type`` or ``replace_original``. Views are ``{"type": "home", "blocks": [...]}``.
Every payload stays inside Slack's limits (``chatops.blockkit.limits``) whatever the fleet
size, because lists are paged (``BOTS_PER_PAGE``) or capped with a "N more" line, details
fit their bots and connectors into the message's block budget, and every string that comes
from a bot or a person is escaped and truncated (``chatops.blockkit.text``).

One module per view: ``lists`` (summary, problems, all), ``details`` (one bot and its
connectors), ``history``, ``outcomes`` (what a button did, the follow-up), ``bulk_restart``
(``/botstatus restart``), ``help``, ``home_tab``; ``fleet`` and ``footer`` are the pieces
they share. The buttons of a bot or connector are in ``chatops.blockkit.controls``, as the
alerts carry them too.

Action ids the listeners match (no value is ever trusted: the server looks the bot and its
connectors up again and re-checks the clicking user's permissions): ``bot_start`` /
``bot_stop`` / ``bot_restart`` and ``connector_start`` / ``connector_stop`` /
``connector_restart`` (``chatops.blockkit.controls``), ``restart_bots`` (``bulk_restart``),
``share``, ``page_previous`` and ``page_next`` (``footer``), ``home_environment``
(``home_tab``).

This package re-exports the names its callers use, so they read ``blocks.summary(...)``,
and every action id (``ACTION_*``) the listeners match.
"""

from __future__ import annotations

from chatops.blockkit.controls import (
    ACTION_ACK,
    ACTION_CONNECTOR_RESTART,
    ACTION_CONNECTOR_START,
    ACTION_CONNECTOR_STOP,
    ACTION_RESTART,
    ACTION_START,
    ACTION_STOP,
    BOT_ACTIONS,
    CONNECTOR_ACTIONS,
    connector_value,
    parse_connector_value,
    restart_button,
    start_button,
    stop_button,
)
from chatops.blockkit.rows import DETAIL_NAME, bot_health
from chatops.blockkit.text import date_token, escape
from chatops.slack.blocks.bulk_restart import (
    ACTION_RESTART_BOTS,
    parse_restart_value,
    restart_changed,
    restart_refused,
    restart_request,
    restart_result,
    restart_too_many,
    restart_value,
)
from chatops.slack.blocks.details import MAX_DETAILED_BOTS, bot_details
from chatops.slack.blocks.fleet import (
    AgentCounts,
    agent_counts,
    agents_line,
    by_name,
    compact_line,
    fleet_agent_counts,
    health_counts,
    problem_first,
)
from chatops.slack.blocks.footer import (
    ACTION_PAGE_NEXT,
    ACTION_PAGE_PREVIOUS,
    ACTION_SHARE,
    Paged,
    Shared,
)
from chatops.slack.blocks.help import help_text, refusal
from chatops.slack.blocks.history import HISTORY_TRANSITIONS, history
from chatops.slack.blocks.home_tab import (
    ACTION_HOME_ENVIRONMENT,
    HOME_MAX_BOTS,
    home_refusal,
    home_view,
)
from chatops.slack.blocks.lists import (
    BOTS_PER_PAGE,
    SUMMARY_PROBLEM_BOTS,
    all_bots,
    page_count,
    problems,
    summary,
)
from chatops.slack.blocks.outcomes import ShownOutcome, action_result, followup

__all__ = [
    "ACTION_ACK",
    "ACTION_CONNECTOR_RESTART",
    "ACTION_CONNECTOR_START",
    "ACTION_CONNECTOR_STOP",
    "ACTION_HOME_ENVIRONMENT",
    "ACTION_PAGE_NEXT",
    "ACTION_PAGE_PREVIOUS",
    "ACTION_RESTART",
    "ACTION_RESTART_BOTS",
    "ACTION_SHARE",
    "ACTION_START",
    "ACTION_STOP",
    "BOTS_PER_PAGE",
    "BOT_ACTIONS",
    "CONNECTOR_ACTIONS",
    "DETAIL_NAME",
    "HISTORY_TRANSITIONS",
    "HOME_MAX_BOTS",
    "MAX_DETAILED_BOTS",
    "SUMMARY_PROBLEM_BOTS",
    "AgentCounts",
    "Paged",
    "Shared",
    "ShownOutcome",
    "action_result",
    "agent_counts",
    "agents_line",
    "all_bots",
    "bot_details",
    "bot_health",
    "by_name",
    "compact_line",
    "connector_value",
    "date_token",
    "escape",
    "fleet_agent_counts",
    "followup",
    "health_counts",
    "help_text",
    "history",
    "home_refusal",
    "home_view",
    "page_count",
    "parse_connector_value",
    "parse_restart_value",
    "problem_first",
    "problems",
    "refusal",
    "restart_button",
    "restart_changed",
    "restart_refused",
    "restart_request",
    "restart_result",
    "restart_too_many",
    "restart_value",
    "start_button",
    "stop_button",
    "summary",
]

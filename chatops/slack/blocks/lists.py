"""``/botstatus``, ``/botstatus problems [page]`` and ``/botstatus all [page]``: the summary
and the paged lists of bots, one line each."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Final

from chatops.blockkit import kit
from chatops.blockkit.rows import bot_health
from chatops.blockkit.text import escape, one_line
from chatops.domain import Health
from chatops.jsontypes import JSONDict
from chatops.slack import grammar
from chatops.slack.blocks.fleet import (
    AgentCounts,
    agents_line,
    by_name,
    compact_line,
    counts_line,
    data_age_line,
    problem_first,
)
from chatops.slack.blocks.footer import Paged, footer_actions
from chatops.store.fleet_rows import BotRecord

# 20 one-line bots read well on a laptop screen; 10,000 bots make 500 pages, and a page
# stays near 8 blocks however long the names are (measured in tests/test_blocks.py).
BOTS_PER_PAGE: Final = 20
SUMMARY_PROBLEM_BOTS: Final = 10


def page_count(total: int, per_page: int = BOTS_PER_PAGE) -> int:
    return max(1, -(-total // per_page))


def clamp_page(page: int, total: int, per_page: int = BOTS_PER_PAGE) -> int:
    return min(max(page, 1), page_count(total, per_page))


def _paged_list(
    title: str,
    ordered: Sequence[BotRecord],
    page: int,
    now: datetime,
    *,
    make_command: Callable[[int], Paged],
    empty: str,
    noun: str,
    data_age: timedelta | None,
    shareable: bool,
) -> JSONDict:
    total = len(ordered)
    pages = page_count(total)
    page = clamp_page(page, total)
    shown = ordered[(page - 1) * BOTS_PER_PAGE : page * BOTS_PER_PAGE]
    summary = f"{total:,} {noun}{'' if total == 1 else 's'} · page {page:,} of {pages:,}"
    if data_age is not None:
        summary += f" · {data_age_line(data_age, None)}"
    blocks = [kit.header(title), kit.context(summary)]
    if shown:
        blocks += [kit.section(text) for text in kit.pack(compact_line(bot, now) for bot in shown)]
        blocks.append(
            kit.context("`/botstatus <bot>` shows a bot's connectors and their statuses.")
        )
    else:
        blocks.append(kit.section(empty))
    blocks += footer_actions(
        make_command(page),
        shareable=shareable,
        previous=make_command(page - 1) if page > 1 else None,
        next_=make_command(page + 1) if page < pages else None,
    )
    fallback = f"{title}: {summary}"
    if shown:
        fallback += ". " + ", ".join(
            f"{one_line(bot.name)[:60]} ({bot_health(bot).label})" for bot in shown[:5]
        )
    return kit.message(escape(fallback), blocks)


def summary(
    counts: Mapping[Health, int],
    problem_bots: Sequence[BotRecord],
    data_age: timedelta | None,
    now: datetime,
    *,
    total: int,
    agents: AgentCounts | None = None,
    stale_after: timedelta | None = None,
    shareable: bool = True,
) -> JSONDict:
    """``/botstatus``: bots per health (Degraded included), the agent counts of LivePerson's
    dashboard, the most urgent problem bots, the age of the data.

    ``problem_bots`` may be every problem bot; the first ``SUMMARY_PROBLEM_BOTS`` by
    urgency are shown and the rest counted.
    """
    problems_total = sum(n for health, n in counts.items() if health.is_problem)
    problems_total = max(problems_total, len(problem_bots))
    overview = f"*{total:,}* bot{'' if total == 1 else 's'}   {counts_line(counts)}"
    if agents is not None and total:
        overview += f"\n{agents_line(agents)}"
    blocks = [
        kit.header("Bots Status"),
        kit.section(overview),
        kit.context(data_age_line(data_age, stale_after)),
    ]
    shown = problem_first(problem_bots)[:SUMMARY_PROBLEM_BOTS]
    if shown:
        blocks.append(kit.divider())
        blocks.append(kit.section(f"*Problem bots* ({problems_total:,})"))
        blocks += [kit.section(text) for text in kit.pack(compact_line(bot, now) for bot in shown)]
        more = problems_total - len(shown)
        if more > 0:
            blocks.append(kit.context(f"and {more:,} more: `/botstatus problems` lists them all."))
    elif total:
        blocks.append(kit.section(":large_green_circle: No problem bots: every bot is OK."))
    blocks += footer_actions(grammar.Summary(), shareable=shareable)
    parts = [
        f"{counts[health]:,} {health.label}"
        for health in sorted(Health, key=lambda h: h.severity)
        if counts.get(health)
    ]
    fallback = f"Bots Status: {total:,} bots" + (f" ({', '.join(parts)})" if parts else "")
    if agents is not None and total:
        fallback += f"; {agents.total:,} agents, {agents.active:,} active"
    return kit.message(fallback, blocks)


def problems(
    bots: Iterable[BotRecord],
    now: datetime,
    page: int = 1,
    *,
    data_age: timedelta | None = None,
    shareable: bool = True,
    ordered: bool = False,
) -> JSONDict:
    """``/botstatus problems [page]``: bots whose health is not OK, most urgent first.

    ``ordered``: ``bots`` are already the problem bots in ``problem_first`` order (a cached
    list), so they are neither filtered nor sorted again.
    """
    if not ordered:
        bots = problem_first(bot for bot in bots if bot_health(bot).is_problem)
    return _paged_list(
        "Problem bots",
        list(bots),
        page,
        now,
        make_command=lambda p: grammar.Problems(max(p, 1)),
        empty=":large_green_circle: No problem bots: every bot is OK.",
        noun="problem bot",
        data_age=data_age,
        shareable=shareable,
    )


def all_bots(
    bots: Iterable[BotRecord],
    page: int,
    now: datetime,
    *,
    data_age: timedelta | None = None,
    shareable: bool = True,
    ordered: bool = False,
) -> JSONDict:
    """``/botstatus all [page]``: every bot by name, ``BOTS_PER_PAGE`` a page.

    ``ordered``: ``bots`` are already in ``by_name`` order (a cached list).
    """
    return _paged_list(
        "All bots",
        list(bots) if ordered else by_name(bots),
        page,
        now,
        make_command=lambda p: grammar.All(max(p, 1)),
        empty="No bots yet: the first successful poll will list them.",
        noun="bot",
        data_age=data_age,
        shareable=shareable,
    )

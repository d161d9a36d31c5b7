"""``chatops check-config``: validate the configuration, then try each outside service.

One line per item with a clear verdict, so an operator can fix things in order. Exit 0 when
everything is fine, 1 when a service check failed, 2 when the configuration is invalid.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Final, Literal

from slack_sdk.errors import SlackApiError

from chatops.config import ConfigError, Settings, load_settings
from chatops.domain.conversations import MetricsOutcome, MetricsReading
from chatops.slack.client import slack_client
from chatops.sources.base import SourceError
from chatops.sources.liveperson import LivePersonSource
from chatops.store.migrate import HEAD_REVISION, DatabaseUnavailable, current_revision, safe_url

# A verdict: True ok, False a problem to fix (exit 1), None skipped, WARN works without it.
WARN: Final = "warn"
Verdict = bool | None | Literal["warn"]


def _line(ok: Verdict, item: str, detail: str) -> str:
    mark = {True: "ok  ", False: "FAIL", None: "skip", WARN: "warn"}[ok]
    return f"[{mark}] {item}: {detail}"


def agent_metrics_verdict(reading: MetricsReading, where: str | None) -> tuple[Verdict, str]:
    """``check-config``'s line on the Agent Metrics API: optional, so a refusal or failure
    is a warning (polling and alerts work without it), never a problem that fails the run."""
    if reading.outcome is MetricsOutcome.OK:
        agents = {agent.agent_id for agent in reading.agents.values()}
        total = sum(agent.open_conversations or 0 for agent in reading.agents.values())
        return True, (
            f"messaging history at {where or '?'} answers: {len(agents)} logged-in agents of"
            f" {len(reading.asked)} connectors, {total:,} open conversations"
        )
    what = "refused" if reading.outcome is MetricsOutcome.REFUSED else "failed"
    return WARN, (
        f"{what}: {reading.error}. Polling and alerts work without it; alerts and details"
        " show conversation counts as unknown"
    )


async def check_settings(settings: Settings) -> list[tuple[Verdict, str, str]]:

    results: list[tuple[Verdict, str, str]] = []
    env = settings.env
    app = settings.app
    where = str(settings.config_file) if settings.config_file else "built-in defaults"
    results.append((True, "config", f"{where}; {len(app.permissions)} permission rule(s)"))
    if not app.permissions:
        results.append((False, "permissions", "no rules: everyone is refused (default deny)"))
    if app.alerts.channel is None and not app.alerts.routes:
        results.append((None, "alerts", "no alerts.channel: channel alerts are off"))

    try:
        revision = await current_revision(env.database_url)
        verdict = revision == HEAD_REVISION
        detail = f"{safe_url(env.database_url)} at revision {revision or 'none'}"
        if not verdict:
            detail += f" (latest is {HEAD_REVISION}: run `chatops db upgrade`)"
        results.append((verdict, "database", detail))
    except DatabaseUnavailable as exc:
        results.append((False, "database", str(exc)))

    if env.slack_bot_token is None:
        results.append((False, "slack", "SLACK_BOT_TOKEN is not set"))
    else:
        client = slack_client(env.slack_bot_token.get_secret_value(), env.slack_api_url)
        try:
            auth = await client.auth_test()
            results.append(
                (True, "slack", f"auth.test ok: team {auth.get('team')}, bot {auth.get('user')}")
            )
        except SlackApiError as exc:
            error = exc.response.get("error", "unknown error")
            results.append((False, "slack", f"auth.test failed: {error}"))
        except OSError as exc:
            results.append((False, "slack", f"cannot reach {env.slack_api_url}: {exc}"))
    if env.slack_signing_secret is None and env.slack_app_token is None:
        results.append((False, "slack", "set SLACK_SIGNING_SECRET (HTTP) or SLACK_APP_TOKEN"))

    try:
        source = LivePersonSource.from_settings(settings)
    except SourceError as exc:
        results.append((False, "liveperson", str(exc)))
    else:
        try:
            results.append((True, "liveperson", await source.check()))
            results.append(await _check_agent_metrics(source, settings))
        except SourceError as exc:
            results.append((False, "liveperson", str(exc)))
        finally:
            await source.aclose()
    return results


async def _check_agent_metrics(
    source: LivePersonSource, settings: Settings
) -> tuple[Verdict, str, str]:
    if not settings.app.conversations.metrics:
        return None, "agent metrics", "conversations.metrics is false: no conversation counts"
    reading = await source.agent_metrics.check()
    ok, detail = agent_metrics_verdict(reading, source.agent_metrics.where)
    return ok, "agent metrics", detail


async def check_config_command(config_file: str | Path | None) -> int:
    try:
        settings = load_settings(config_file)
    except ConfigError as exc:
        print(_line(False, "config", str(exc)))
        return 2
    results = await check_settings(settings)
    for ok, item, detail in results:
        print(_line(ok, item, detail))
    failed = [item for ok, item, _ in results if ok is False]
    print("configuration looks good" if not failed else f"{len(failed)} problem(s) to fix")
    sys.stdout.flush()
    return 1 if failed else 0

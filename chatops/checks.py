"""``chatops check-config``: validate the configuration, then try each outside service.

One line per item with a clear verdict, so an operator can fix things in order. Exit 0 when
everything is fine, 1 when a service check failed, 2 when the configuration is invalid.
"""

from __future__ import annotations

import sys
from pathlib import Path

from slack_sdk.errors import SlackApiError

from chatops.config import ConfigError, Settings, load_settings
from chatops.sources.base import SourceError
from chatops.store.migrate import DatabaseUnavailable, current_revision, head_revision, safe_url


def _line(ok: bool | None, item: str, detail: str) -> str:
    mark = {True: "ok  ", False: "FAIL", None: "skip"}[ok]
    return f"[{mark}] {item}: {detail}"


async def check_settings(settings: Settings) -> list[tuple[bool | None, str, str]]:
    from chatops.runtime import slack_client
    from chatops.sources.liveperson import LivePersonSource

    results: list[tuple[bool | None, str, str]] = []
    secrets = settings.secrets
    app = settings.app
    where = str(settings.config_file) if settings.config_file else "built-in defaults"
    results.append((True, "config", f"{where}; {len(app.permissions)} permission rule(s)"))
    if not app.permissions:
        results.append((False, "permissions", "no rules: everyone is refused (default deny)"))
    if app.alerts.channel is None and not app.alerts.routes:
        results.append((None, "alerts", "no alerts.channel: channel alerts are off"))

    try:
        revision = await current_revision(secrets.database_url)
        head = head_revision()
        verdict = revision == head
        detail = f"{safe_url(secrets.database_url)} at revision {revision or 'none'}"
        if not verdict:
            detail += f" (latest is {head}: run `chatops db upgrade`)"
        results.append((verdict, "database", detail))
    except DatabaseUnavailable as exc:
        results.append((False, "database", str(exc)))

    if secrets.slack_bot_token is None:
        results.append((False, "slack", "SLACK_BOT_TOKEN is not set"))
    else:
        client = slack_client(secrets.slack_bot_token.get_secret_value(), secrets.slack_api_url)
        try:
            auth = await client.auth_test()
            results.append(
                (True, "slack", f"auth.test ok: team {auth.get('team')}, bot {auth.get('user')}")
            )
        except SlackApiError as exc:
            error = exc.response.get("error", "unknown error")
            results.append((False, "slack", f"auth.test failed: {error}"))
        except OSError as exc:
            results.append((False, "slack", f"cannot reach {secrets.slack_api_url}: {exc}"))
    if secrets.slack_signing_secret is None and secrets.slack_app_token is None:
        results.append((False, "slack", "set SLACK_SIGNING_SECRET (HTTP) or SLACK_APP_TOKEN"))

    try:
        source = LivePersonSource.from_settings(settings)
    except SourceError as exc:
        results.append((False, "liveperson", str(exc)))
    else:
        try:
            results.append((True, "liveperson", await source.check()))
        except SourceError as exc:
            results.append((False, "liveperson", str(exc)))
        finally:
            await source.aclose()
    return results


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

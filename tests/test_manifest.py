"""manifest.yml: valid for Slack, wired to /slack/events, and asking for the fewest scopes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from slack_sdk.web.async_base_client import AsyncBaseClient
from slack_sdk.web.async_client import AsyncWebClient

from chatops.slack import grammar

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "manifest.yml"
# The schema published at https://www.schemastore.org/slack-app-manifest.json, kept beside the
# repository so the test runs offline.
# A copy of ../shared/reference/slack-app-manifest.schema.json (SchemaStore's public schema).
SCHEMA = ROOT / "tests" / "data" / "slack-app-manifest.schema.json"
EVENTS_PATH = "/slack/events"

# Why each bot scope is there; the manifest must ask for exactly these.
REQUIRED_SCOPES = {
    "commands": "/botstatus",
    "chat:write": "alerts, thread replies, their updates, ephemeral replies",
    "users:read": "users.info for the person who typed or clicked",
    "users:read.email": "permission rules may name people by e-mail (users.info profile.email)",
    "usergroups:read": "permission rules may name user groups",
}

# The scopes each Web API method needs (https://docs.slack.dev/reference/methods). A method the
# code calls that is missing here fails the test until someone adds it with its scopes.
METHOD_SCOPES: dict[str, set[str]] = {
    "auth_test": set(),
    "chat_postMessage": {"chat:write"},
    "chat_update": {"chat:write"},
    "chat_delete": {"chat:write"},
    "chat_postEphemeral": {"chat:write"},
    "views_publish": set(),
    "views_open": set(),
    "views_update": set(),
    "users_info": {"users:read"},
    "users_lookupByEmail": {"users:read.email"},
    "usergroups_list": {"usergroups:read"},
    "usergroups_users_list": {"usergroups:read"},
}


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    loaded = yaml.safe_load(MANIFEST.read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_the_manifest_is_valid_against_slacks_schema(manifest: dict[str, Any]) -> None:
    assert SCHEMA.exists(), f"the manifest schema is missing: {SCHEMA}"
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema)

    errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(manifest)]

    assert errors == []


def test_the_schema_catches_a_broken_manifest(manifest: dict[str, Any]) -> None:
    # Guards the test above against a schema that accepts anything.
    schema = json.loads(SCHEMA.read_text())
    broken = dict(manifest, display_information={"name": "x" * 36}, surprise=True)

    assert len(list(jsonschema.Draft7Validator(schema).iter_errors(broken))) == 2


def test_the_slash_command_is_botstatus_on_the_events_path(manifest: dict[str, Any]) -> None:
    [command] = manifest["features"]["slash_commands"]

    assert command["command"] == "/botstatus"
    assert command["url"].startswith("https://")
    assert command["url"].endswith(EVENTS_PATH)


def test_the_usage_hint_lists_every_form_within_slacks_limit(manifest: dict[str, Any]) -> None:
    [command] = manifest["features"]["slash_commands"]
    hint = command["usage_hint"]
    schema = json.loads(SCHEMA.read_text())
    limit = schema["properties"]["features"]["properties"]["slash_commands"]["items"]["properties"][
        "usage_hint"
    ]["maxLength"]

    forms = [form.strip() for form in hint.removeprefix("[").removesuffix("]").split(" | ")]
    assert sorted(forms) == sorted(f for f in grammar.USAGE.values() if f)
    assert len(hint) <= limit


def test_interactivity_and_app_home_opened_are_on(manifest: dict[str, Any]) -> None:
    settings = manifest["settings"]

    assert settings["interactivity"]["is_enabled"] is True
    assert settings["event_subscriptions"]["bot_events"] == ["app_home_opened"]
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert settings["socket_mode_enabled"] is False


def test_every_request_url_is_the_same_events_endpoint(manifest: dict[str, Any]) -> None:
    urls = {
        manifest["features"]["slash_commands"][0]["url"],
        manifest["settings"]["interactivity"]["request_url"],
        manifest["settings"]["event_subscriptions"]["request_url"],
    }

    assert len(urls) == 1, f"Bolt serves everything on one path; got {sorted(urls)}"


def test_the_bot_asks_for_exactly_the_scopes_the_features_need(manifest: dict[str, Any]) -> None:
    scopes = manifest["oauth_config"]["scopes"]["bot"]

    assert len(scopes) == len(set(scopes)), "a scope is listed twice"
    assert set(scopes) == set(REQUIRED_SCOPES)
    assert "user" not in manifest["oauth_config"]["scopes"], "the app needs no user token"


def _web_api_methods() -> set[str]:
    return {
        name
        for name in dir(AsyncWebClient)
        if not name.startswith("_") and name not in dir(AsyncBaseClient)
    }


def _app_sources() -> dict[str, str]:
    """The app's source files (the sandbox stands in for Slack, it is not the app)."""
    return {
        str(path.relative_to(ROOT)): path.read_text()
        for path in sorted((ROOT / "chatops").rglob("*.py"))
        if "sandbox" not in path.relative_to(ROOT).parts
    }


def _methods_called_by_the_app() -> dict[str, list[str]]:
    """Web API client methods called anywhere in the app, with the files that call them."""
    known = _web_api_methods()
    call = re.compile(r"\.(\w+)\(")
    api_call = re.compile(r"api_call\(\s*[\"']([\w.]+)[\"']")
    found: dict[str, list[str]] = {}
    for where, source in _app_sources().items():
        names = {m for m in call.findall(source) if m in known}
        names |= {m.replace(".", "_") for m in api_call.findall(source)}
        for name in names:
            found.setdefault(name, []).append(where)
    return found


def _scopes_the_code_needs() -> dict[str, set[str]]:
    """Each scope the app's code needs, with the reasons found in the code."""
    needed: dict[str, set[str]] = {}
    for method, where in _methods_called_by_the_app().items():
        for scope in METHOD_SCOPES.get(method, set()):
            needed.setdefault(scope, set()).add(f"{method} in {', '.join(where)}")
    sources = _app_sources()
    for where, source in sources.items():
        if re.search(r"\.command\(", source):
            needed.setdefault("commands", set()).add(f"a slash command in {where}")
        # users.info leaves profile.email out without users:read.email.
        if "users_info(" in source and re.search(r"[\"']email[\"']", source):
            needed.setdefault("users:read.email", set()).add(f"profile email in {where}")
    return needed


def test_the_scopes_are_exactly_what_the_code_needs(manifest: dict[str, Any]) -> None:
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    called = _methods_called_by_the_app()
    unknown = {m: where for m, where in called.items() if m not in METHOD_SCOPES}
    assert unknown == {}, "add these methods to METHOD_SCOPES with the scopes they need"

    needed = _scopes_the_code_needs()

    assert sorted(scopes - set(needed)) == [], "scopes the code does not use"
    assert {s: why for s, why in needed.items() if s not in scopes} == {}, "scopes missing"


def test_the_events_the_code_handles_are_subscribed(manifest: dict[str, Any]) -> None:
    handled = {
        event
        for source in _app_sources().values()
        for event in re.findall(r"\.event\(\s*[\"'](\w+)[\"']", source)
    }

    assert handled <= set(manifest["settings"]["event_subscriptions"]["bot_events"])


def test_the_method_table_only_names_real_web_api_methods() -> None:
    assert set(METHOD_SCOPES) <= _web_api_methods()

"""Monitoring chatops itself: the alert rules through Prometheus' own promtool (syntax and
unit tests), the Grafana dashboard, the chart objects that carry both, and a real scrape of a
running chatops after real traffic that must have every metric they use.

promtool comes from Debian's ``prometheus`` package (``./dev test`` installs it). Without it
these tests skip, or fail when CHATOPS_REQUIRE_DEPLOY_LINTERS=1 (CI).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from chatops.config import AlertsConfig, HeartbeatConfig
from chatops.sandbox.liveperson import RunningServer as LPServer
from chatops.sandbox.slack import RunningServer as SlackServer
from tests.alerts_runner import ALERTS
from tests.fixtures.app import MakeApp
from tests.fixtures.heartbeat import PingReceiver
from tests.replica_runner import Scrape
from tests.test_alerts_flow import healthy_bots
from tests.test_deploy import CHART, REQUIRE_LINTERS_VARIABLE, linters  # noqa: F401 (a fixture)
from tests.waiting import PATIENCE

MONITORING = CHART / "monitoring"
RULES = MONITORING / "chatops.rules.yml"
RULE_TESTS = MONITORING / "chatops.rules.test.yml"
DASHBOARD = MONITORING / "chatops-dashboard.json"

ALERTS_WE_NEED = {
    "ChatopsNoSuccessfulPoll",
    "ChatopsRelayDown",
    "ChatopsOutboxGrowing",
    "ChatopsAlertDead",
    "ChatopsSlackRateLimited",
    "ChatopsSlackAuthFailing",
    "ChatopsNoLeader",
    "ChatopsSeveralLeaders",
    "ChatopsNotReady",
}
PANELS_WE_NEED = {
    "Polls by outcome",
    "Poll duration",
    "Bots by health",
    "Transitions by dimension",
    "Alert messages by outcome",
    "Outbox",
    "Slack calls by outcome",
    "Slack 429s by method",
    "Command latency",
    "Leader by replica",
    "Leaders",
    "Event loop lag by replica",
    "Garbage collector pauses",
}
# Labels Prometheus attaches to every series of a scrape target (absent from /metrics).
TARGET_LABELS = {"job", "instance", "namespace"}


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is not None:
        return path
    message = "promtool is not installed (Debian's prometheus package; ./dev test installs it)"
    if os.environ.get(REQUIRE_LINTERS_VARIABLE) == "1":
        pytest.fail(f"{REQUIRE_LINTERS_VARIABLE}=1 but {message}")
    pytest.skip(message)


def run(*args: str, cwd: Path | None = None, stdin: str | None = None) -> tuple[int, str]:
    result = subprocess.run(
        args, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=60, check=False
    )
    return result.returncode, result.stdout + result.stderr


def alert_rules(path: Path = RULES) -> list[dict[str, Any]]:
    groups = yaml.safe_load(path.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def dashboard_targets() -> list[tuple[str, str]]:
    """``(panel title, expr)`` of every query of every panel."""
    dashboard = json.loads(DASHBOARD.read_text())
    return [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]


# ----------------------------------------------------------------------- PromQL selectors

_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NAME = re.compile(r"(?<![\w:.$\"])([a-zA-Z_:][\w:]*)\s*(\{[^}]*\})?(\s*\()?")
_MATCHER = re.compile(r'(\w+)\s*(=~|!=|!~|=)\s*"([^"]*)"')
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}

Selector = tuple[str, list[tuple[str, str, str]]]


def selectors(expr: str) -> list[Selector]:
    """The series selectors of a PromQL expression: ``(metric, [(label, op, value)])``."""
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges and subqueries
    expr = _GROUPING.sub(" ", expr)
    found = []
    for name, braces, call in _NAME.findall(expr):
        if call or name.lower() in _KEYWORDS:
            continue  # a function or an aggregation, or an operator
        found.append((name, _MATCHER.findall(braces)))
    return found


def test_selectors_are_read_from_promql_with_functions_grouping_and_ranges() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le) (rate(a_bucket{job=~"$job", outcome="ok"}'
        "[$__rate_interval]))) > 2 * max without (pod) (b offset 10m) and on (instance) c == 1"
    )

    assert selectors(expr) == [
        ("a_bucket", [("job", "=~", "$job"), ("outcome", "=", "ok")]),
        ("b", []),
        ("c", []),
    ]


# --------------------------------------------------------------------------- alert rules


def test_the_alert_rules_pass_promtool_check_rules(promtool: str) -> None:
    status, output = run(promtool, "check", "rules", str(RULES))

    assert status == 0, output
    assert f"SUCCESS: {len(alert_rules())} rules found" in output


def test_the_alert_rules_pass_their_promtool_unit_tests(promtool: str) -> None:
    status, output = run(promtool, "test", "rules", RULE_TESTS.name, cwd=MONITORING)

    assert status == 0, output
    assert "SUCCESS" in output


def test_every_alert_is_unit_tested_firing_and_quiet() -> None:
    cases: dict[str, set[bool]] = {}
    for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for check in test["alert_rule_test"]:
            cases.setdefault(check["alertname"], set()).add(bool(check.get("exp_alerts")))
    alerts = {rule["alert"] for rule in alert_rules()}

    assert ALERTS_WE_NEED <= alerts
    assert {alert: cases.get(alert, set()) for alert in alerts} == {
        alert: {True, False} for alert in alerts
    }


def test_every_alert_has_a_severity_a_summary_and_a_description_of_what_to_check() -> None:
    for rule in alert_rules():
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"].strip(), rule["alert"]
        assert len(rule["annotations"]["description"].split()) >= 25, rule["alert"]


def test_promtool_refuses_a_rule_that_does_not_parse(promtool: str, tmp_path: Path) -> None:
    broken = tmp_path / RULES.name
    broken.write_text(RULES.read_text().replace("sum by (namespace, job) (", "sum by (", 1))

    status, output = run(promtool, "check", "rules", str(broken))

    assert status == 1
    assert "FAILED" in output


def test_a_unit_test_fails_when_an_alert_no_longer_fires_as_it_should(
    promtool: str, tmp_path: Path
) -> None:
    for source in (RULES, RULE_TESTS):
        shutil.copy(source, tmp_path / source.name)
    rules = tmp_path / RULES.name
    rules.write_text(rules.read_text().replace("* 60 > 1", "* 60 > 5", 1))

    status, output = run(promtool, "test", "rules", RULE_TESTS.name, cwd=tmp_path)

    assert status == 1
    assert "alertname: ChatopsSlackRateLimited" in output


# ----------------------------------------------------------------------------- dashboard


def test_the_dashboard_has_a_panel_for_each_thing_to_watch() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]

    assert PANELS_WE_NEED <= {panel["title"] for panel in panels}
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
    for panel in panels:
        assert panel["targets"], panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        for target in panel["targets"]:
            assert selectors(target["expr"]), (panel["title"], target["expr"])
            assert all(
                ("job", "=~", "$job") in matchers for _, matchers in selectors(target["expr"])
            ), (panel["title"], target["expr"])
    variables = {variable["name"] for variable in dashboard["templating"]["list"]}
    assert variables == {"datasource", "job"}


def test_every_dashboard_query_is_promql_that_promtool_accepts(
    promtool: str, tmp_path: Path
) -> None:
    # promtool parses expressions in rule files: each query becomes a recording rule, with
    # Grafana's variables replaced by what Grafana would put there.
    rules = [
        {
            "record": f"dashboard:query{number}",
            "expr": expr.replace("$__rate_interval", "1m").replace("$job", "chatops"),
        }
        for number, (_, expr) in enumerate(dashboard_targets())
    ]
    path = tmp_path / "dashboard.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))

    status, output = run(promtool, "check", "rules", str(path))

    assert status == 0, output
    assert f"SUCCESS: {len(rules)} rules found" in output


# --------------------------------------------------------------- a real scrape of chatops


@pytest.fixture
def scraped_after_traffic(
    make_app: MakeApp,
    sqlite_url: str,
    fake_lp: LPServer,
    fake_slack: SlackServer,
    ping_receiver: PingReceiver,
) -> Iterator[str]:
    """/metrics of the real app after a poll with a transition, alerts, commands, a Slack 429,
    a heartbeat ping, and Slack refusing the token (asked by /readyz)."""
    app = make_app(
        sqlite_url,
        alerts=AlertsConfig(channel=ALERTS, confirm_polls=1),
        heartbeat=HeartbeatConfig(url=f"{ping_receiver.url}/ping/0f3c"),
    )
    slack = fake_slack.fake
    slack.inject(method="users.info", status=429, retry_after=0, times=1)
    alice = app.users["alice"]
    for text in ["", "problems"]:
        assert alice.command(text).status_code == 200
    fake_lp.fake.set_fields(healthy_bots(fake_lp)[0]["botId"], cbSocketStatus="NOT_CONNECTED")
    polled = app.poll()
    assert polled is not None and polled.transitions
    slack.wait_for(lambda: len(slack.messages(ALERTS)) == 1)
    ping_receiver.wait_for(1)
    slack.revoke_token()
    assert httpx.get(f"{app.url}/readyz", timeout=PATIENCE).status_code == 503

    def complete() -> bool:
        text = httpx.get(f"{app.url}/metrics", timeout=PATIENCE).text
        scrape = Scrape.parse(text)
        return bool(
            scrape.total("chatops_alerts_total", outcome="sent")
            and scrape.total("chatops_heartbeat_total")
        )

    slack.wait_for(complete, what="the alert and the ping counted")
    yield httpx.get(f"{app.url}/metrics", timeout=PATIENCE).text


def test_a_real_scrape_passes_promtool_check_metrics(
    promtool: str, scraped_after_traffic: str
) -> None:
    status, output = run(promtool, "check", "metrics", stdin=scraped_after_traffic)

    assert (status, output) == (0, "")


def test_every_series_the_rules_and_the_dashboard_select_is_in_a_real_scrape(
    scraped_after_traffic: str,
) -> None:
    scrape = Scrape.parse(scraped_after_traffic)
    labels_by_metric: dict[str, list[dict[str, str]]] = {}
    for name, labels in scrape.samples:
        labels_by_metric.setdefault(name, []).append(dict(labels))
    queries = [(rule["alert"], rule["expr"]) for rule in alert_rules()] + dashboard_targets()

    used = set()
    for where, expr in queries:
        for metric, matchers in selectors(expr):
            used.add(metric)
            assert metric in labels_by_metric, f"{where}: {metric} is not exported"
            for label, op, value in matchers:
                if label in TARGET_LABELS:
                    continue
                series = labels_by_metric[metric]
                assert any(label in s for s in series), f"{where}: {metric} has no {label}"
                if op == "=":
                    assert any(s.get(label) == value for s in series), (
                        f"{where}: no {metric}{{{label}={value!r}}}"
                    )

    assert len(used) >= 15, used
    assert all(metric.startswith("chatops_") for metric in used), used
    assert scrape.value("chatops_relay_up") == 1
    assert scrape.value("chatops_ready") == 0
    assert scrape.value("chatops_readiness_check", check="slack") == 0
    assert scrape.value("chatops_readiness_check", check="database") == 1
    assert scrape.value("chatops_poll_interval_seconds") == 3600
    auth_errors = scrape.value(
        "chatops_slack_api_calls_total", method="auth.test", outcome="auth_error"
    )
    assert auth_errors is not None and auth_errors >= 1


# ------------------------------------------------------------------------------ the chart


def render_chart(values: dict[str, Any]) -> list[dict[str, Any]]:
    import helm_python as helm  # installed by .ci/lint-deploy (the `linters` fixture)

    merged = yaml.safe_load((CHART / "ci" / "default-values.yaml").read_text())
    merged.update(values)
    with helm.Chart.load(str(CHART)) as chart:
        rendered = chart.render(merged, name="chatops", namespace="ops", is_install=True)
    return [
        manifest
        for name, text in sorted(rendered.items())
        if name.endswith(".yaml")
        for manifest in yaml.safe_load_all(text)
        if manifest
    ]


def by_kind(manifests: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [manifest for manifest in manifests if manifest["kind"] == kind]


ALL_ON = {
    "monitoring": {
        "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
        "prometheusRule": {"enabled": True, "labels": {"release": "prometheus"}},
        "grafanaDashboard": {"enabled": True, "annotations": {"grafana_folder": "chatops"}},
    }
}


@pytest.mark.usefixtures("linters")
def test_the_chart_renders_no_monitoring_objects_unless_asked() -> None:
    manifests = render_chart({})

    assert by_kind(manifests, "PrometheusRule") == by_kind(manifests, "ServiceMonitor") == []
    assert [m["metadata"]["name"] for m in by_kind(manifests, "ConfigMap")] == ["chatops"]


@pytest.mark.usefixtures("linters")
def test_the_chart_renders_the_rules_file_as_a_prometheus_rule_unchanged() -> None:
    [rule] = by_kind(render_chart(ALL_ON), "PrometheusRule")

    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["labels"]["release"] == "prometheus"
    assert rule["spec"] == yaml.safe_load(RULES.read_text())


@pytest.mark.usefixtures("linters")
def test_the_service_monitor_scrapes_metrics_on_the_service_port_of_these_pods() -> None:
    manifests = render_chart(ALL_ON)
    [monitor] = by_kind(manifests, "ServiceMonitor")
    [service] = by_kind(manifests, "Service")

    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["ops"]}
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}


@pytest.mark.usefixtures("linters")
def test_the_dashboard_config_map_carries_the_grafana_sidecar_label_and_the_json() -> None:
    [dashboard] = [
        m for m in by_kind(render_chart(ALL_ON), "ConfigMap") if m["metadata"]["name"] != "chatops"
    ]

    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboard["metadata"]["annotations"] == {"grafana_folder": "chatops"}
    assert json.loads(dashboard["data"]["chatops.json"]) == json.loads(DASHBOARD.read_text())

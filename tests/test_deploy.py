"""deploy/: the container entrypoint run by bash, the linters, the chart, compose and image.

No container engine runs here, so the entrypoint is run as it is, by bash, with a fake
``chatops`` first on PATH that records how it was called. The Dockerfile, compose file and
Helm chart go through real linters (.ci/lint-deploy installs them); a broken copy of each
shows that the gate can fail. The chart is rendered by Helm's own engine and its manifests
are checked for what operators rely on: replicas, probes, the migration step, secrets.
"""

from __future__ import annotations

import http.server
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from chatops.config import _ENV_NAMES, load_app_config
from tests.waiting import PATIENCE, wait_until

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
ENTRYPOINT = DEPLOY / "docker-entrypoint.sh"
CHART = DEPLOY / "helm" / "chatops"
LINT_DEPLOY = ROOT / ".ci" / "lint-deploy"
REQUIRE_LINTERS_VARIABLE = "CHATOPS_REQUIRE_DEPLOY_LINTERS"

# Records each call as one line "ARGS|SLACK_BOT_TOKEN=..|SLACK_BOT_TOKEN_FILE=..", fails
# the command named by FAKE_FAIL, and for `serve` with FAKE_WAIT=1 writes its pid and waits
# for SIGTERM, which it records.
FAKE_CHATOPS = r"""#!/usr/bin/env bash
token="SLACK_BOT_TOKEN=${SLACK_BOT_TOKEN:-}|SLACK_BOT_TOKEN_FILE=${SLACK_BOT_TOKEN_FILE:-}"
echo "$*|$token" >>"$FAKE_CALLS"
if [ "$*" = "${FAKE_FAIL:-}" ]; then
    echo "chatops $*: cannot reach the database" >&2
    exit 1
fi
if [ "$1" = serve ] && [ "${FAKE_WAIT:-0}" = 1 ]; then
    trap 'echo TERM >>"$FAKE_CALLS"; exit 0' TERM
    echo $$ >"$FAKE_PID"
    while true; do sleep 0.05; done
fi
"""

SERVE_ENVIRONMENT = {
    "CHATOPS_DATABASE_URL": "postgresql+asyncpg://chatops:pw@db/chatops",
    "SLACK_BOT_TOKEN": "xoxb-test-token",
    "SLACK_SIGNING_SECRET": "signing-secret",
    "LP_ACCOUNT_ID": "12345678",
}


class Container:
    """The entrypoint in a clean environment, with the fake chatops first on PATH."""

    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        fake = bin_dir / "chatops"
        fake.write_text(FAKE_CHATOPS)
        fake.chmod(0o755)
        self.calls_file = tmp_path / "calls"
        self.pid_file = tmp_path / "pid"
        self.base_env = {
            "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(tmp_path),
            "FAKE_CALLS": str(self.calls_file),
            "FAKE_PID": str(self.pid_file),
        }

    def env(self, variables: Mapping[str, str]) -> dict[str, str]:
        return {**self.base_env, **variables}

    def run(self, *args: str, **variables: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(ENTRYPOINT), *args],
            env=self.env(variables),
            capture_output=True,
            text=True,
            timeout=PATIENCE,
        )

    def calls(self) -> list[str]:
        if not self.calls_file.exists():
            return []
        return [line.split("|", 1)[0] for line in self.calls_file.read_text().splitlines()]

    def call_lines(self) -> list[str]:
        return self.calls_file.read_text().splitlines()

    def secret_file(self, name: str, content: str, mode: int = 0o600) -> Path:
        path = self.dir / name
        path.write_text(content)
        path.chmod(mode)
        return path


@pytest.fixture
def container(tmp_path: Path) -> Container:
    return Container(tmp_path)


# ----------------------------------------------------------------------------- entrypoint


def test_it_serves_on_port_3000_when_given_no_command(container: Container) -> None:
    result = container.run(**SERVE_ENVIRONMENT)

    assert result.returncode == 0, result.stderr
    assert container.calls() == ["serve --port 3000"]


def test_options_alone_are_options_of_serve(container: Container) -> None:
    result = container.run("--host", "127.0.0.1", **SERVE_ENVIRONMENT, CHATOPS_PORT="8080")

    assert result.returncode == 0, result.stderr
    assert container.calls() == ["serve --port 8080 --host 127.0.0.1"]


def test_it_does_not_migrate_unless_asked(container: Container) -> None:
    container.run("serve", **SERVE_ENVIRONMENT)

    assert container.calls() == ["serve --port 3000"]


def test_it_runs_db_upgrade_before_serve_when_CHATOPS_MIGRATE_is_1(container: Container) -> None:
    result = container.run("serve", **SERVE_ENVIRONMENT, CHATOPS_MIGRATE="1")

    assert result.returncode == 0, result.stderr
    assert container.calls() == ["db upgrade", "serve --port 3000"]


def test_it_does_not_serve_when_the_migration_fails(container: Container) -> None:
    result = container.run(
        "serve", **SERVE_ENVIRONMENT, CHATOPS_MIGRATE="1", FAKE_FAIL="db upgrade"
    )

    assert result.returncode == 1
    assert container.calls() == ["db upgrade"]
    assert "cannot reach the database" in result.stderr
    assert "chatops db upgrade failed (above); not serving" in result.stderr


def test_it_names_every_missing_variable_at_once_and_starts_nothing(
    container: Container,
) -> None:
    result = container.run("serve")

    assert result.returncode == 64
    for name in [
        "CHATOPS_DATABASE_URL",
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "LP_ACCOUNT_ID",
    ]:
        assert f"missing {name} (or {name}_FILE)" in result.stderr
    assert "refusing to start" in result.stderr
    assert container.calls() == []


def test_socket_mode_needs_no_signing_secret(container: Container) -> None:
    environment = {k: v for k, v in SERVE_ENVIRONMENT.items() if k != "SLACK_SIGNING_SECRET"}

    result = container.run(**environment, SLACK_APP_TOKEN="xapp-1-test")

    assert result.returncode == 0, result.stderr
    assert container.calls() == ["serve --port 3000"]


def test_secrets_may_come_from_files_and_stay_out_of_the_environment(
    container: Container,
) -> None:
    token_file = container.secret_file("bot-token", "xoxb-from-a-file\n")
    environment = {k: v for k, v in SERVE_ENVIRONMENT.items() if k != "SLACK_BOT_TOKEN"}

    result = container.run(**environment, SLACK_BOT_TOKEN_FILE=str(token_file))

    assert result.returncode == 0, result.stderr
    # chatops reads NAME_FILE itself: the value is not copied into its environment.
    assert container.call_lines() == [
        f"serve --port 3000|SLACK_BOT_TOKEN=|SLACK_BOT_TOKEN_FILE={token_file}"
    ]


@pytest.mark.parametrize(
    ("make_file", "complaint"),
    [
        (lambda c: c.dir / "absent", "no such file"),
        (lambda c: c.secret_file("empty", ""), "the file is empty"),
    ],
)
def test_it_refuses_a_secret_file_it_cannot_use(
    container: Container, make_file: Callable[[Container], Path], complaint: str
) -> None:
    path = make_file(container)
    environment = {k: v for k, v in SERVE_ENVIRONMENT.items() if k != "SLACK_BOT_TOKEN"}

    result = container.run(**environment, SLACK_BOT_TOKEN_FILE=str(path))

    assert result.returncode == 64
    assert f"SLACK_BOT_TOKEN_FILE={path}: {complaint}" in result.stderr
    assert container.calls() == []


def test_it_refuses_a_secret_given_twice_without_printing_it(container: Container) -> None:
    token_file = container.secret_file("bot-token", "xoxb-from-a-file")

    result = container.run(**SERVE_ENVIRONMENT, SLACK_BOT_TOKEN_FILE=str(token_file))

    assert result.returncode == 64
    assert "set SLACK_BOT_TOKEN or SLACK_BOT_TOKEN_FILE, not both" in result.stderr
    assert "xoxb-" not in result.stderr + result.stdout
    assert container.calls() == []


def test_it_checks_the_file_of_every_variable_chatops_reads_from_a_file() -> None:
    script = ENTRYPOINT.read_text()
    listed = re.search(r"readonly FILE_VARIABLES=\((.*?)\)", script, re.DOTALL)
    assert listed is not None

    assert set(listed.group(1).split()) == set(_ENV_NAMES.values())


def test_database_commands_need_only_the_database_url(container: Container) -> None:
    missing = container.run("db", "upgrade")
    result = container.run("db", "upgrade", CHATOPS_DATABASE_URL="postgresql+asyncpg://db/x")

    assert missing.returncode == 64
    assert "missing CHATOPS_DATABASE_URL (or CHATOPS_DATABASE_URL_FILE)" in missing.stderr
    assert result.returncode == 0, result.stderr
    assert container.calls() == ["db upgrade"]


def test_other_commands_go_to_chatops_and_double_dash_runs_a_program(
    container: Container,
) -> None:
    checked = container.run("check-config", "--config", "/etc/chatops/chatops.yml")
    shell = container.run("--", "bash", "-c", "echo from a shell")

    assert checked.returncode == 0
    assert container.calls() == ["check-config --config /etc/chatops/chatops.yml"]
    assert shell.stdout == "from a shell\n"


@pytest.mark.parametrize(
    ("variable", "value", "complaint"),
    [
        ("CHATOPS_MIGRATE", "yes", "CHATOPS_MIGRATE must be 0 or 1, not 'yes'"),
        ("CHATOPS_PORT", "80a", "CHATOPS_PORT must be a port number, not '80a'"),
    ],
)
def test_it_refuses_a_malformed_setting_of_its_own(
    container: Container, variable: str, value: str, complaint: str
) -> None:
    result = container.run("serve", **SERVE_ENVIRONMENT, **{variable: value})

    assert result.returncode == 64
    assert complaint in result.stderr
    assert container.calls() == []


def test_chatops_replaces_the_script_and_gets_the_stop_signal_itself(
    container: Container,
) -> None:
    stderr = container.dir / "stderr"
    with stderr.open("w") as stderr_file:
        process = subprocess.Popen(
            ["bash", str(ENTRYPOINT), "serve"],
            env=container.env({**SERVE_ENVIRONMENT, "FAKE_WAIT": "1"}),
            stdout=subprocess.DEVNULL,
            stderr=stderr_file,
        )
    try:

        def started() -> bool:
            assert process.poll() is None, stderr.read_text()
            return container.pid_file.exists() and bool(container.pid_file.read_text().strip())

        wait_until(started, what="the fake chatops starting")
        # exec: the process the container runtime started IS chatops, so its SIGTERM
        # reaches chatops rather than a shell that would swallow it.
        assert int(container.pid_file.read_text()) == process.pid

        process.send_signal(signal.SIGTERM)

        assert process.wait(timeout=PATIENCE) == 0
        assert container.calls()[-1] == "TERM"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[http.server.HTTPServer]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    _Health.status = 200


def test_the_healthcheck_passes_when_healthz_answers_200(
    container: Container, health_server: http.server.HTTPServer
) -> None:
    result = container.run("healthcheck", CHATOPS_PORT=str(health_server.server_port))

    assert result.returncode == 0, result.stderr


def test_the_healthcheck_fails_on_an_error_status_or_a_closed_port(
    container: Container, health_server: http.server.HTTPServer
) -> None:
    _Health.status = 503
    unhealthy = container.run("healthcheck", CHATOPS_PORT=str(health_server.server_port))
    port = health_server.server_port
    health_server.shutdown()
    health_server.server_close()
    closed = container.run("healthcheck", CHATOPS_PORT=str(port))

    assert unhealthy.returncode == 1
    assert "503" in unhealthy.stderr
    assert closed.returncode == 1
    assert f"http://127.0.0.1:{port}/healthz" in closed.stderr


# -------------------------------------------------------------------------------- linters


def _linters_installed() -> bool:
    return (Path(sys.prefix) / ".chatops-deploy-linters").exists()


@pytest.fixture(scope="module")
def linters() -> None:
    if _linters_installed():
        return
    message = (
        f"the deploy linters are not installed in {sys.prefix}: ./dev test installs them "
        "(or .ci/lint-deploy --install-only)"
    )
    if os.environ.get(REQUIRE_LINTERS_VARIABLE) == "1":
        pytest.fail(f"{REQUIRE_LINTERS_VARIABLE}=1 but {message}")
    pytest.skip(message)


def lint(deploy_dir: Path = DEPLOY) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(LINT_DEPLOY), "--no-install", str(deploy_dir)],
        env={**os.environ, "CHATOPS_VENV": sys.prefix},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.usefixtures("linters")
def test_the_deploy_files_pass_every_linter() -> None:
    result = lint()

    assert result.returncode == 0, result.stdout + result.stderr
    for check in ["hadolint", "shellcheck", "docker-compose config", "helm chart"]:
        assert re.search(rf"lint-deploy: {check}.*: ok", result.stdout), result.stdout


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


BREAKAGES: dict[str, tuple[Callable[[Path], None], str, str]] = {
    # a `cd` in RUN instead of WORKDIR (DL3003)
    "Dockerfile": (
        lambda d: _replace(d / "Dockerfile", "WORKDIR /src\n", "RUN cd /src\n"),
        "hadolint",
        "DL3003",
    ),
    # an unquoted expansion (SC2086)
    "entrypoint": (
        lambda d: _replace(d / "docker-entrypoint.sh", 'exec "$@"', "exec $@"),
        "shellcheck",
        "SC2068",
    ),
    # depends_on a service that does not exist
    "compose": (
        lambda d: _replace(d / "compose.yaml", "      migrate:\n", "      migrations:\n"),
        "docker-compose config",
        "migrations",
    ),
    # a template that does not parse
    "chart template": (
        lambda d: _replace(
            d / "helm/chatops/templates/service.yaml", "nindent 4 }}", "nindent 4 }"
        ),
        "helm chart",
        "service.yaml",
    ),
    # a misspelt field of an alert rule, in the PrometheusRule (a CRD: checked by its shape)
    "prometheus rule": (
        lambda d: _replace(
            d / "helm/chatops/monitoring/chatops.rules.yml",
            "        expr: ",
            "        expression: ",
        ),
        "helm chart",
        "the PrometheusRule CRD: spec/groups/0/rules/0: Additional properties are not allowed",
    ),
    # a misspelt field of a container (the probes would silently be missing)
    "chart": (
        lambda d: _replace(
            d / "helm/chatops/templates/deployment.yaml", "readinessProbe:", "readynessProbe:"
        ),
        "helm chart",
        "'readynessProbe' was unexpected",
    ),
}


@pytest.mark.usefixtures("linters")
@pytest.mark.parametrize("broken", sorted(BREAKAGES))
def test_the_linters_fail_on_a_broken_file(tmp_path: Path, broken: str) -> None:
    copy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, copy)
    breakage, linter, finding = BREAKAGES[broken]
    breakage(copy)

    result = lint(copy)

    assert result.returncode == 1
    assert f"lint-deploy: {linter}" in result.stderr and "FAILED" in result.stderr
    assert finding in result.stdout + result.stderr
    assert result.stderr.count("FAILED") == 1, result.stderr


# ---------------------------------------------------------------------------- Helm chart


def render(values: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """The chart rendered by Helm with the CI values plus ``values``: manifests by kind."""
    import helm_python as helm  # installed by .ci/lint-deploy (the `linters` fixture)

    merged = yaml.safe_load((CHART / "ci" / "default-values.yaml").read_text())
    for key, value in (values or {}).items():
        merged[key] = value
    with helm.Chart.load(str(CHART)) as chart:
        rendered = chart.render(merged, name="chatops", namespace="ops", is_install=True)
    manifests: dict[str, dict[str, Any]] = {}
    for name, text in rendered.items():
        if name.endswith(".yaml"):
            for manifest in yaml.safe_load_all(text):
                if manifest:
                    manifests[manifest["kind"]] = manifest
    return manifests


def pod_spec(manifests: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = manifests["Deployment"]["spec"]["template"]["spec"]
    return spec


@pytest.mark.usefixtures("linters")
def test_the_chart_runs_two_replicas_guarded_by_a_disruption_budget() -> None:
    manifests = render()

    assert manifests["Deployment"]["spec"]["replicas"] == 2
    assert manifests["PodDisruptionBudget"]["spec"]["minAvailable"] == 1
    selector = manifests["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"]
    assert selector == manifests["Deployment"]["spec"]["selector"]["matchLabels"]
    assert manifests["Service"]["spec"]["selector"] == selector


@pytest.mark.usefixtures("linters")
def test_one_replica_gets_no_disruption_budget_that_would_block_node_drains() -> None:
    manifests = render({"replicaCount": 1})

    assert "PodDisruptionBudget" not in manifests


@pytest.mark.usefixtures("linters")
def test_the_chart_probes_healthz_for_liveness_and_readyz_for_readiness() -> None:
    [container] = pod_spec(render())["containers"]

    assert container["ports"] == [{"name": "http", "containerPort": 3000, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["args"] == ["serve"]


@pytest.mark.usefixtures("linters")
def test_an_init_container_migrates_with_the_same_image_and_settings() -> None:
    spec = pod_spec(render())
    [migrate] = spec["initContainers"]
    [serve] = spec["containers"]

    assert migrate["args"] == ["db", "upgrade"]
    assert (migrate["image"], migrate["env"], migrate["envFrom"]) == (
        serve["image"],
        serve["env"],
        serve["envFrom"],
    )
    assert "initContainers" not in pod_spec(render({"migrations": {"enabled": False}}))


@pytest.mark.usefixtures("linters")
def test_pods_run_as_a_non_root_user_on_a_read_only_file_system() -> None:
    spec = pod_spec(render())

    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == 10001
    assert spec["automountServiceAccountToken"] is False
    for container in spec["containers"] + spec["initContainers"]:
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False


@pytest.mark.usefixtures("linters")
def test_secrets_live_only_in_the_secret() -> None:
    manifests = render()
    values = yaml.safe_load((CHART / "ci" / "default-values.yaml").read_text())

    assert manifests["Secret"]["stringData"] == values["secrets"]["values"]
    elsewhere = yaml.safe_dump({k: v for k, v in manifests.items() if k != "Secret"})
    for secret in values["secrets"]["values"].values():
        if secret != values["secrets"]["values"]["LP_ACCOUNT_ID"]:
            assert secret not in elsewhere


@pytest.mark.usefixtures("linters")
def test_an_existing_secret_is_used_instead_of_creating_one() -> None:
    manifests = render({"secrets": {"existingSecret": "chatops-credentials"}})

    assert "Secret" not in manifests
    [serve] = pod_spec(manifests)["containers"]
    assert serve["envFrom"] == [{"secretRef": {"name": "chatops-credentials"}}]


@pytest.mark.usefixtures("linters")
def test_the_config_map_holds_a_config_chatops_accepts(tmp_path: Path) -> None:
    config_map = render({"config": {"poll": {"interval": "30s"}, "alerts": {"channel": "C1"}}})[
        "ConfigMap"
    ]
    config_file = tmp_path / "chatops.yml"
    config_file.write_text(config_map["data"]["chatops.yml"])

    config = load_app_config(config_file)

    assert config.poll.interval.total_seconds() == 30
    assert config.alerts.channel == "C1"
    [serve] = pod_spec(render())["containers"]
    assert {"name": "CHATOPS_CONFIG", "value": "/etc/chatops/chatops.yml"} in serve["env"]


@pytest.mark.usefixtures("linters")
@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        (
            {"secrets": {"values": {"SLACK_BOT_TOKEN": "xoxb-1"}}},
            "set secrets.existingSecret, or secrets.values with CHATOPS_DATABASE_URL, "
            "LP_ACCOUNT_ID, SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN for Socket Mode)",
        ),
        (
            {
                "secrets": {
                    "values": {
                        "CHATOPS_DATABASE_URL": "sqlite+aiosqlite:////data/chatops.db",
                        "SLACK_BOT_TOKEN": "xoxb-1",
                        "SLACK_APP_TOKEN": "xapp-1",
                        "LP_ACCOUNT_ID": "1",
                    }
                }
            },
            "replicaCount is 2 but CHATOPS_DATABASE_URL is SQLite",
        ),
        (
            {"env": {"SLACK_BOT_TOKEN": "xoxb-1"}},
            "SLACK_BOT_TOKEN is a secret: set it in secrets.values or secrets.existingSecret",
        ),
    ],
)
def test_the_chart_refuses_an_install_that_could_only_fail_later(
    values: dict[str, Any], complaint: str
) -> None:
    import helm_python

    with pytest.raises(helm_python.HelmError) as raised:
        render(values)

    assert complaint in str(raised.value)


# ------------------------------------------------------------------- compose, image, docs


def test_compose_migrates_once_before_the_app_starts() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]

    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["chatops"]["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully"}
    }
    assert services["chatops"]["env_file"] == ".env"
    assert "healthcheck" in services["postgres"]


def test_the_example_env_file_names_what_the_entrypoint_requires() -> None:
    names = {
        line.split("=", 1)[0].lstrip("# ").strip()
        for line in (DEPLOY / ".env.example").read_text().splitlines()
        if "=" in line
    }

    assert {
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "LP_ACCOUNT_ID",
        "POSTGRES_PASSWORD",
    } <= names


def test_the_example_config_is_one_chatops_accepts() -> None:
    config = load_app_config(DEPLOY / "chatops.example.yml")

    assert config.alerts.channel == "C0123ALERTS"
    assert config.permissions


def _final_stage(dockerfile: str) -> list[str]:
    joined = re.sub(r"\\\n\s*", " ", dockerfile)
    instructions = [line.strip() for line in joined.splitlines() if line.strip()]
    instructions = [line for line in instructions if not line.startswith("#")]
    last_from = max(i for i, line in enumerate(instructions) if line.startswith("FROM "))
    return instructions[last_from:]


def test_the_image_runs_as_a_numeric_non_root_user_with_a_healthcheck() -> None:
    stage = _final_stage((DEPLOY / "Dockerfile").read_text())
    by_keyword = {line.split()[0]: line for line in stage}

    assert by_keyword["USER"] == "USER ${UID}:${UID}"
    assert "ARG UID=10001" in stage
    assert by_keyword["EXPOSE"] == "EXPOSE 3000"
    assert by_keyword["STOPSIGNAL"] == "STOPSIGNAL SIGTERM"
    assert by_keyword["ENTRYPOINT"] == 'ENTRYPOINT ["docker-entrypoint.sh"]'
    assert by_keyword["HEALTHCHECK"].endswith('CMD ["docker-entrypoint.sh", "healthcheck"]')
    assert "ARG PYTHON_IMAGE=python:3.11-slim-bookworm" in (DEPLOY / "Dockerfile").read_text()

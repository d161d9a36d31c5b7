"""Where the CLI looks for its YAML file without ``--config``, and that its help says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatops.cli.commands import build_parser
from chatops.config import config_path

SUBCOMMANDS = (["serve"], ["poll"], ["status"], ["db", "upgrade"], ["check-config"])


@pytest.mark.parametrize("words", SUBCOMMANDS)
def test_the_config_help_names_the_variable_then_the_file_in_the_current_directory(
    words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args([*words, "--help"])
    text = " ".join(capsys.readouterr().out.split())

    assert "default: $CHATOPS_CONFIG, else chatops.yml in the current directory if present" in text


def test_the_default_is_the_variable_else_chatops_yml_here_else_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert config_path(None, {}) is None
    (tmp_path / "chatops.yml").write_text("{}\n")
    assert config_path(None, {}) == Path("chatops.yml")
    assert config_path(None, {"CHATOPS_CONFIG": "/etc/x.yml"}) == Path("/etc/x.yml")
    assert config_path("given.yml", {"CHATOPS_CONFIG": "/etc/x.yml"}) == Path("given.yml")


def test_the_entry_point_stays_the_function_once_every_cli_module_is_imported() -> None:
    # The console script and `python -m chatops` call chatops.cli.main; a submodule of that
    # name would replace it in the package once imported.
    import chatops.cli.commands
    import chatops.cli.poll_status
    import chatops.cli.serve  # noqa: F401
    from chatops import cli

    assert callable(cli.main) and cli.main.__module__ == "chatops.cli"

"""The archive folder reaches every command by the one settings route (issue 9):
default ``twin-data`` < ``archive_dir`` in the TOML file < ``TWIN_ARCHIVE_DIR`` < the flag.

Before, ``archive_dir`` in a config file was silently ignored and the commands read
``TWIN_ARCHIVE_DIR`` through their flags' env fallbacks instead.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.cli.main import main
from tests.flows.archive_fixtures import small_archive
from tests.flows.test_cli_errors import fails

COUNT_ALERTS = ["sql", "SELECT count(*) AS n FROM alerts", "--format", "csv"]
CLOSED_BROKER = ["--brokers", "127.0.0.1:19999", "--connect-timeout", "2"]


def toml(tmp_path: Path, archive: Path | str, name: str = "twin.toml") -> str:
    path = tmp_path / name
    path.write_text(f"[pipeline]\narchive_dir = {str(archive)!r}\n")
    return str(path)


@pytest.fixture
def archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("TWIN_ARCHIVE_DIR", raising=False)
    monkeypatch.delenv("TWIN_CONFIG", raising=False)
    return small_archive(tmp_path / "archive")


def test_sql_reads_the_archive_named_in_the_config_file(
        archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*COUNT_ALERTS, "--config", toml(tmp_path, archive)]) == 0
    assert capsys.readouterr().out.split() == ["n", "3"]


def test_archive_check_reads_the_archive_named_in_the_config_file(
        archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["archive", "check", "--config", toml(tmp_path, archive)]) == 0
    assert capsys.readouterr().out.strip() == f"archive {archive}: every file is readable"


def test_env_overrides_the_file_and_the_flag_overrides_env(
        archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    elsewhere = tmp_path / "elsewhere"
    config = toml(tmp_path, archive)
    monkeypatch.setenv("TWIN_ARCHIVE_DIR", str(elsewhere))
    assert main([*COUNT_ALERTS, "--config", config]) == 2
    assert str(elsewhere) in capsys.readouterr().err
    assert main([*COUNT_ALERTS, "--config", config, "--archive", str(archive)]) == 0
    assert capsys.readouterr().out.split() == ["n", "3"]


def test_run_takes_its_archive_from_the_config_file_then_env(tmp_path: Path) -> None:
    """``twin run`` checks its archive folder before it connects: a file named by the config (then
    by TWIN_ARCHIVE_DIR over a good config) is refused in one line naming the setting."""
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    line = fails("run", *CLOSED_BROKER, "--config", toml(tmp_path, not_a_folder))
    assert line == f"twin: error: archive_dir {not_a_folder}: exists and is not a folder"
    line = fails("run", *CLOSED_BROKER, "--config", toml(tmp_path, tmp_path / "ok"),
                 env={"TWIN_ARCHIVE_DIR": str(not_a_folder)})
    assert line == f"twin: error: archive_dir {not_a_folder}: exists and is not a folder"
    line = fails("run", *CLOSED_BROKER, "--archive", str(tmp_path / "ok"),
                 env={"TWIN_ARCHIVE_DIR": str(not_a_folder)})
    assert "127.0.0.1:19999" in line and "archive" not in line  # the flag won: on to the brokers


def test_demo_writes_to_the_archive_named_in_the_config_file(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    line = fails("demo", "--assets", "1", "--days", "0.1", "--no-progress",
                 "--config", toml(tmp_path, not_a_folder))
    assert line == f"twin: error: archive_dir {not_a_folder}: exists and is not a folder"


@pytest.mark.parametrize(("where", "value", "problem"), [
    ("file", '""', "'' is not a valid name (pattern .+)"),
    ("file", "3", "cannot use 3 (expected a string)"),
    ("env", "", "'' is not a valid name (pattern .+)"),
])
def test_a_bad_archive_dir_is_one_line_and_exit_2(
        tmp_path: Path, where: str, value: str, problem: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(f"archive_dir = {value}\n" if where == "file" else "")
    env = {"TWIN_ARCHIVE_DIR": value} if where == "env" else {}
    line = fails("sql", "SELECT 1", "--config", str(config), env=env)
    named = "TWIN_ARCHIVE_DIR: " if where == "env" else ""  # round 26: the variable that gave it
    assert line == f"twin: error: {named}config archive_dir: {problem}"

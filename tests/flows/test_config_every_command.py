"""Every command that takes ``--config`` checks the whole file (round 41, CONFIG41b): `twin sql`,
`explain`, `whatif`, `archive check|compact` and `commands list` given ``--archive`` only checked
that the file parsed as TOML (the flag overrides all they read from it), so a ``windows_s`` typo
passed there while `twin demo` refused it. Now each says the one line naming the key, exit 2,
before it reads anything; a good file still works, and the flag still wins over its archive_dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.cli.main import main
from tests.flows.archive_fixtures import small_archive

BAD_FILES = {
    "typo": ("[pipeline]\nwindows_s = 60\n", "unknown config key 'windows_s' (did you mean 'window_s'?)"),
    "table": ("[pipeline]\nwindow_s = 60\n[pipelin.twin]\nwarmup_windows = 3\n",
              "unknown config table [pipelin]"),
    "nested": ("[pipeline.twin]\nwarmup = 3\n", "unknown config key 'twin.warmup'"),
    "value": ("[pipeline]\nwindow_s = -5\n", "config window_s must be >= 0.001"),
    "type": ("[pipeline.kafka]\npartitions = 'four'\n", "config kafka.partitions"),
}

ARCHIVE_COMMANDS = {
    "sql": ["sql", "SELECT count(*) AS n FROM features", "--format", "csv"],
    "explain": ["explain", "10f2982cbd9416dbf24f"],
    "whatif": ["whatif", "pump-1"],
    "archive check": ["archive", "check"],
    "archive compact": ["archive", "compact"],
    "commands list": ["commands", "list"],
}
"""The commands whose ``--archive`` flag overrides all they read from ``--config``."""

OTHER_COMMANDS = {  # they load the settings before they connect or read: refused before either
    "topics": ["topics", "describe", "--connect-timeout", "1"],
    "run": ["run", "--connect-timeout", "1"],
    "simulate": ["simulate", "--connect-timeout", "1"],
    "commands approve": ["commands", "approve", "c1", "--connect-timeout", "1"],
}


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_archive(tmp_path_factory.mktemp("cfg") / "a")


def _config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("command", sorted(ARCHIVE_COMMANDS))
@pytest.mark.parametrize("bad", sorted(BAD_FILES))
def test_a_bad_config_is_one_line_with_archive_given(archive: Path, tmp_path: Path, command: str, bad: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    text, needle = BAD_FILES[bad]
    argv = [*ARCHIVE_COMMANDS[command], "--archive", str(archive), "--config", _config(tmp_path, text)]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""  # refused before anything was read or printed
    assert len(err.splitlines()) == 1 and err.startswith("twin: error: ") and needle in err, err


@pytest.mark.parametrize("command", sorted(OTHER_COMMANDS))
def test_the_other_commands_refuse_the_typo_too(tmp_path: Path, command: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    text, needle = BAD_FILES["typo"]
    assert main([*OTHER_COMMANDS[command], "--config", _config(tmp_path, text)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and needle in err, err


def test_a_good_config_still_works_and_the_flag_still_wins(archive: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _config(tmp_path, "[pipeline]\nwindow_s = 60\narchive_dir = 'no-such-folder'\n"
                            "[pipeline.kafka]\npartitions = 2\n[benchmark]\nanything = 1\n")
    base = ["--archive", str(archive), "--config", cfg]
    assert main([*ARCHIVE_COMMANDS["sql"], *base]) == 0
    assert capsys.readouterr().out.splitlines() == ["n", "6"]  # the flag's archive, not the file's
    assert main(["archive", "check", *base]) == 0
    assert "every file is readable" in capsys.readouterr().out
    assert main(["commands", "list", *base]) == 0
    assert capsys.readouterr().out.strip() == "no pending commands"
    assert main(["explain", "10f2982cbd9416dbf24f", *base]) == 2  # the archive's answer, not the config's
    assert "unknown alert id" in capsys.readouterr().err


def test_the_archive_commands_leave_twin_variables_to_the_commands_that_use_them(
        archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The check is of the file: a TWIN_* variable the command does not use is not judged with it
    (without --config it is not either); the load of `twin run` still refuses it."""
    monkeypatch.setenv("TWIN_WINDOWS_S", "60")
    cfg = _config(tmp_path, "[pipeline]\nwindow_s = 60\n")
    assert main([*ARCHIVE_COMMANDS["sql"], "--archive", str(archive), "--config", cfg]) == 0
    assert capsys.readouterr().out.splitlines() == ["n", "6"]
    assert main(["run", "--config", cfg, "--connect-timeout", "1"]) == 2
    assert "TWIN_WINDOWS_S is not a setting" in capsys.readouterr().err


@pytest.mark.parametrize("command", sorted({**ARCHIVE_COMMANDS, **OTHER_COMMANDS}))
def test_an_archive_dir_holding_a_nul_is_named_in_one_line(tmp_path: Path, command: str,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """Round 49: TOML writes a NUL as ``\\u0000``; an ``archive_dir`` holding one passed the config's
    checks and every command stopped on ``twin: error: embedded null byte``, naming neither the
    setting nor the file."""
    cfg = _config(tmp_path, "[pipeline]\narchive_dir = \"arch\\u0000ive\"\n")
    argv = [*ARCHIVE_COMMANDS.get(command, OTHER_COMMANDS.get(command, [])), "--config", cfg]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("twin: error: config archive_dir = ") and "NUL character" in err, err


@pytest.mark.parametrize("how", ["flag", "env"])
def test_an_empty_config_is_none_given_for_every_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str],
                                                         how: str) -> None:
    """Round 49: ``--config ''`` (or ``TWIN_CONFIG=``) was none given to the file check and to `twin
    sql`, but the other commands loaded the settings of the file "." and stopped on ``config file .
    is not a regular file``. Now every command takes it as none given."""
    data = tmp_path / "nab.csv"
    data.write_text("timestamp,value\n" + "".join(f"2024-01-01T00:{i:02d}:00,{i}\n" for i in range(60)))
    flag = ["--config", ""] if how == "flag" else []
    if how == "env":
        monkeypatch.setenv("TWIN_CONFIG", "")
    argv = ["backtest", str(data), "--out", str(tmp_path / "o"), "--no-report", "--no-progress", *flag]
    assert main(argv) == 0, capsys.readouterr().err
    capsys.readouterr()
    for command in sorted(OTHER_COMMANDS):  # they go on to the brokers (none there): not a config error
        argv = [*OTHER_COMMANDS[command], "--brokers", "127.0.0.1:19631", *flag]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "cannot reach Kafka at 127.0.0.1:19631" in err and "config file" not in err, err

"""Every file a ``twin`` command reads, when it cannot be read, is refused in one line naming the
flag (or argument) and the file, exit 2 (round 30; before, ``twin backtest --metadata nope.json``
and ``twin backtest /missing.csv`` said ``[Errno 2] No such file or directory: 'nope.json'``, and a
config file's problems said "config file ..." without the flag)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from flows.cli import main as cli
from tests.contract.test_readme_sync import COMMANDS

NO_BROKER = ["--brokers", "127.0.0.1:19999", "--connect-timeout", "2"]
NAB = "timestamp,value\n" + "".join(f"2024-01-01 00:{i // 60:02d}:{i % 60:02d},{i % 7}\n" for i in range(300))

COMMAND_ARGV = {
    ("demo",): ["--days", "0.1", "--assets", "1", "--out", "{tmp}/o"],
    ("sql",): ["SELECT 1", "--archive", "{tmp}/a"],
    ("explain",): ["0123456789abcdef0123", "--archive", "{tmp}/a"],
    ("archive", "check"): ["--archive", "{tmp}/a"],
    ("archive", "compact"): ["--archive", "{tmp}/a"],
    ("whatif",): ["pump-001", "--archive", "{tmp}/a"],
    ("topics",): ["describe", *NO_BROKER],
    ("run",): [*NO_BROKER, "--archive", "{tmp}/a"],
    ("simulate",): [*NO_BROKER, "--assets", "1", "--days", "0.1"],
    ("replay",): ["{tmp}/good.csv", *NO_BROKER],
    ("backtest",): ["{tmp}/good.csv", "--out", "{tmp}/o", "--no-progress", "--no-report"],
    ("commands",): ["list", *NO_BROKER],
}
"""A runnable command line of each command (its files good), to which one bad file is added."""


def _bad(tmp: Path, kind: str, suffix: str) -> tuple[Path, str]:
    """A file of ``kind`` that no command can read, and the words its refusal must hold."""
    path = tmp / f"bad-{kind}{suffix}"
    if kind == "missing":
        return path, "no such file"
    if kind == "folder":
        path.mkdir()
        return path, "not a regular file (a folder)"
    if kind == "fifo":
        os.mkfifo(path)  # nobody writes it: opening it would block for ever
        return path, "not a regular file (a FIFO)"
    if kind == "latin1":
        path.write_bytes("x = 'caf\xe9'\n".encode("latin-1"))
        return path, "not UTF-8 text"
    path.write_text("[broken\n" if suffix == ".toml" else "{broken\n")
    return path, "TOML" if suffix == ".toml" else "invalid JSON"


def _run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
         argv: list[str]) -> tuple[int, str]:
    for name in [n for n in os.environ if n.startswith("TWIN_")]:
        monkeypatch.delenv(name)
    rc = cli.main(argv)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    return rc, lines[0]


def _argv(command: tuple[str, ...], tmp: Path) -> list[str]:
    (tmp / "good.csv").write_text(NAB)
    return [*command, *(a.format(tmp=tmp) for a in COMMAND_ARGV[command])]


def test_every_command_is_listed() -> None:
    assert set(COMMAND_ARGV) == set(COMMANDS)


SETTINGS_FILES = [*((c, "--config") for c in COMMAND_ARGV),
                  (("backtest",), "--metadata"), (("run",), "--metadata")]
"""Every command's --config (TOML), and the --metadata (here JSON) of the commands that take one."""


@pytest.mark.parametrize("kind", ["missing", "folder", "fifo", "latin1", "syntax"])
@pytest.mark.parametrize(("command", "flag"), SETTINGS_FILES,
                         ids=lambda x: " ".join(x) if isinstance(x, tuple) else x)
def test_a_config_or_metadata_file_that_cannot_be_read_names_the_flag(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        command: tuple[str, ...], flag: str, kind: str) -> None:
    bad, words = _bad(tmp_path, kind, ".toml" if flag == "--config" else ".json")
    rc, line = _run(capsys, monkeypatch, [*_argv(command, tmp_path), flag, str(bad)])
    assert rc == 2
    # a metadata file's line follows the reader's (`--metadata m.json line 1: invalid JSON: ...`)
    assert line.startswith(f"twin: error: {flag} {bad}{':' if flag == '--config' else ''}"), line
    assert (words if (flag, kind) != ("--metadata", "latin1") else "invalid JSON") in line


@pytest.mark.parametrize("kind", ["missing", "folder", "fifo"])
@pytest.mark.parametrize("where", ["backtest input", "replay input", "--events"])
def test_a_telemetry_or_events_file_that_cannot_be_read_names_the_argument(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        where: str, kind: str) -> None:
    bad, words = _bad(tmp_path, kind, ".csv")
    command = ("replay",) if where == "replay input" else ("backtest",)
    argv = _argv(command, tmp_path)
    if where == "--events":
        argv += ["--events", str(bad)]
    else:
        argv.insert(1, str(bad))  # a second input file, before the options
    rc, line = _run(capsys, monkeypatch, argv)
    assert rc == 2
    flag = "--events" if where == "--events" else "input file"
    assert line == f"twin: error: {flag} {bad}: {words}"


def test_a_file_from_the_environment_names_the_variable_and_the_path_is_printable(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    argv = _argv(("backtest",), tmp_path)
    name = str(tmp_path / "no\x1b[31mpe.json")
    for n in [n for n in os.environ if n.startswith("TWIN_")]:
        monkeypatch.delenv(n)
    monkeypatch.setenv("TWIN_METADATA", name)
    assert cli.main(argv) == 2
    line = capsys.readouterr().err.strip()
    assert line == f"twin: error: TWIN_METADATA={tmp_path}/no\\x1b[31mpe.json: no such file"


@pytest.mark.parametrize("value", [" ", "conf.toml ", "  "])
def test_a_path_with_white_space_at_an_end_is_shown_quoted(
        value: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Round 50: ``--config ' '`` said "--config : no such file", the name it could not find unseen."""
    for n in [n for n in os.environ if n.startswith("TWIN_")]:
        monkeypatch.delenv(n)
    assert cli.main(["demo", "--config", value]) == 2
    shown = repr(value) if "  " not in value else "$'\\x20\\x20'"
    assert capsys.readouterr().err.strip() == f"twin: error: --config {shown}: no such file"


@pytest.mark.parametrize("flag", ["--write-metadata", "--write-truth"])
@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_simulates_output_file_that_is_no_regular_file_is_refused_not_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        flag: str, kind: str) -> None:
    """Before: ``--write-truth FIFO`` blocked for ever (nobody reads the FIFO); ``--write-metadata``
    renames its temporary file over the path, so a device named directly would be replaced by a file
    (not tried: the test names the device through a link, which only the link's name would lose)."""
    target = tmp_path / "pipe.json"
    if kind == "fifo":
        os.mkfifo(target)
    else:
        target.symlink_to("/dev/null")
    argv = [*_argv(("simulate",), tmp_path), "--sensor-faults", "0.5", flag, str(target)]
    rc, line = _run(capsys, monkeypatch, argv)
    assert rc == 2
    what = "a FIFO" if kind == "fifo" else "a character device"
    assert line == f"twin: error: {flag} {target}: not a regular file ({what}): name a file"
    assert Path("/dev/null").is_char_device()


def test_simulates_output_file_below_a_loop_of_links_says_so(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Round 46 (HOSTILE46): ``--write-metadata LOOP/m.json`` (LOOP a link to itself) was "cannot write
    there (LOOP is not a folder)"."""
    loop = tmp_path / "loop"
    loop.symlink_to("loop")
    argv = [*_argv(("simulate",), tmp_path), "--write-metadata", str(loop / "m.json")]
    rc, line = _run(capsys, monkeypatch, argv)
    assert rc == 2
    assert line == (f"twin: error: --write-metadata {loop / 'm.json'}: cannot write there ({loop} is a loop "
                    "of symbolic links)")

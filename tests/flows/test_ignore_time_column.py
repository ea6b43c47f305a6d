"""Round 50 (LEFT50): ``--ignore-columns`` naming the time column was dropped silently (the column
was read all the same). The time column cannot be ignored: listing it is one line, exit 2, before
anything is written or any broker asked, and ``--help`` says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.cli.main import build_parser, main
from flows.dataflow.sources.files import read_records
from flows.dataflow.sources.readers.source import FileFormatError

TABLE = "Timestamp,asset_id,temp,status\n2024-05-01T00:00:00Z,p1,41.5,ok\n2024-05-01T00:01:00Z,p1,41.6,ok\n"


def test_ignoring_the_time_column_is_refused_by_the_reader(tmp_path: Path) -> None:
    path = tmp_path / "plant.csv"
    path.write_text(TABLE)
    assert len(list(read_records(path, ignore_columns=["status"]))) == 2
    with pytest.raises(FileFormatError, match="the time column 'Timestamp' cannot be ignored"):
        list(read_records(path, ignore_columns=["status", "Timestamp"]))


@pytest.mark.parametrize("command", ["backtest", "replay"])
def test_ignoring_the_time_column_is_one_line_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str) -> None:
    path = tmp_path / "plant.csv"
    path.write_text(TABLE)
    tail = (["--out", str(tmp_path / "o"), "--no-report"] if command == "backtest"
            else ["--brokers", "127.0.0.1:9"])
    argv = [command, str(path), "--ignore-columns", "status,Timestamp", "--no-progress", *tail]
    assert main(argv) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"twin: error: input file {path}: the time column 'Timestamp' cannot be ignored "
        "(drop it from ignore_columns)"]
    assert not (tmp_path / "o" / "scores.parquet").exists()


@pytest.mark.parametrize("command", ["backtest", "replay"])
def test_the_help_says_the_time_column_cannot_be_ignored(command: str) -> None:
    sub = build_parser()._subparsers._group_actions[0].choices[command]  # noqa: SLF001
    assert "timestamp column cannot be ignored" in " ".join(sub.format_help().split())

"""Round 50 (LEFT50): a zero-byte ``*.parquet`` input was read as a CSV (it lacks Parquet's magic
bytes) and said ``line 1: no header: a CSV file starts with a header line``. It is named as what it
is, an empty Parquet file; a zero-byte CSV still says it has no header."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.cli.main import main

EMPTY = "an empty Parquet file (0 bytes: no schema, no rows)"


@pytest.mark.parametrize("command", ["backtest", "replay"])
def test_a_zero_byte_parquet_file_is_named_an_empty_parquet_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str) -> None:
    path = tmp_path / "frames.parquet"
    path.write_bytes(b"")
    tail = (["--out", str(tmp_path / "o"), "--no-report"] if command == "backtest"
            else ["--brokers", "127.0.0.1:9"])
    assert main([command, str(path), "--no-progress", *tail]) == 2
    assert capsys.readouterr().err.splitlines() == [f"twin: error: input file {path}: {EMPTY}"]
    csv = tmp_path / "data.csv"
    csv.write_bytes(b"")
    assert main([command, str(csv), "--no-progress", *tail]) == 2
    assert "no header: a CSV file starts with a header line" in capsys.readouterr().err

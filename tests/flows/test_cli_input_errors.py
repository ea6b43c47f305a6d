"""A telemetry file's content error is led by the words the file checks use (round 31, LOOSE31):
``input file data.csv line 3, ...`` (``--events ev.csv line 3, ...``), not ``data.csv line 3, ...``
alone; one line, exit 2, as before. Empty cells stay per-row: skipped and counted, no error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flows.cli.main import main

QUIET = ("--format", "nab", "--no-progress", "--no-report")
NUMBER = "is not a number (a text column? list it in ignore_columns to skip it)"


def _nab(path: Path, n: int, bad: dict[int, str]) -> Path:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [f"{(t0 + timedelta(minutes=i)).isoformat()},{bad.get(i, '1.0')}" for i in range(n)]
    path.write_text("timestamp,value\n" + "\n".join(rows) + "\n")
    return path


def test_a_bad_cell_deep_in_an_input_file_names_it_as_an_input_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _nab(tmp_path / "data.csv", 20_000, {15_000: "zz"})  # far past the header
    assert main(["backtest", str(data), *QUIET, "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"twin: error: input file {data} line 15002, column 'value': 'zz' {NUMBER}"]


def test_text_that_is_not_utf8_and_a_bad_events_file_are_named_by_their_flag(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    odd = tmp_path / "odd.csv"
    odd.write_bytes(b"timestamp,value\n2026-01-01T00:00:00Z,1.0\n2026-01-01T00:01:00Z,\xff\n")
    assert main(["backtest", str(odd), *QUIET, "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.startswith(f"twin: error: input file {odd}: not UTF-8 text (")
    good = _nab(tmp_path / "good.csv", 10, {3: ""})  # an empty cell: skipped and counted, no error
    assert main(["backtest", str(good), *QUIET, "--out", str(tmp_path / "g")]) == 0
    assert "skipped while reading the files: empty 1" in capsys.readouterr().out
    events = tmp_path / "ev.csv"
    events.write_text("timestamp,asset_id,event\n2026-01-01T00:00:00Z,nab,failure\nbad,nab,failure\n")
    argv = ["backtest", str(good), "--events", str(events), *QUIET, "--out", str(tmp_path / "e")]
    assert main(argv) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"twin: error: --events {events} line 3, column 'timestamp': 'bad' is not an ISO 8601 time or "
        "epoch seconds"]


def test_replay_names_its_input_file_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _nab(tmp_path / "data.csv", 3, {0: "abc"})  # refused before the brokers are asked
    assert main(["replay", str(data), "--format", "nab", "--no-progress", "--brokers", "127.0.0.1:9"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"twin: error: input file {data} line 2, column 'value': 'abc' {NUMBER}"]


def test_a_file_rewritten_between_its_read_and_its_line_count_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Round 32 (HOSTILE32): a bad cell's line is found by reading the file again; a file cut
    short meanwhile (a writer, a log rotation) was ``twin: internal error: RuntimeError: row N not
    found when counting lines``. Now one line naming the file, exit 2."""
    from flows.dataflow.sources.readers import batches

    data = _nab(tmp_path / "data.csv", 50, {40: "zz"})
    real = batches.open_text

    def rewritten_first(path: Path):  # noqa: ANN202 - the reader's own opener, after a rewrite
        _nab(data, 10, {})
        return real(path)

    monkeypatch.setattr(batches, "open_text", rewritten_first)
    assert main(["backtest", str(data), *QUIET, "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"twin: error: input file {data}: changed while it was read (its row 41 is gone); read a file "
        "no one is writing"]

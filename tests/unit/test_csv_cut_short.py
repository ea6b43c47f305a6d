"""Round 50 (LEFT50): a CSV cut short inside a quoted field (``...,41.5,"3.2`` of ``"3.25"``) was
read to its end silently, the cut value taken as the row's; cut one field earlier, the same file was
refused (``has 3 fields``). It is now refused the same way, naming the line. A last line without a
line end is no sign of a cut by itself (NAB's ``nyc_taxi.csv`` ends so, whole): it is read."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.cli.main import main
from flows.dataflow.sources.files import read_records
from flows.dataflow.sources.readers.source import FileFormatError

HEAD = 'timestamp,asset_id,temp,note\n2024-05-01T00:00:00Z,p1,41.5,"a ""quoted"" note"\n'


def test_a_file_cut_inside_a_quoted_field_is_refused_naming_its_line(tmp_path: Path) -> None:
    path = tmp_path / "cut.csv"
    path.write_text(HEAD + '2024-05-01T00:01:00Z,p1,41.6,"the note was cu')
    with pytest.raises(FileFormatError) as info:
        list(read_records(path, ignore_columns=["note"]))
    assert str(info.value) == (f"{path} line 3: ends inside a quoted field: the file was cut short "
                               "(its last row is not whole)")


@pytest.mark.parametrize("last", ['2024-05-01T00:01:00Z,p1,41.6,"whole"', "2024-05-01T00:01:00Z,p1,41.6,x"])
def test_a_whole_last_row_without_a_line_end_is_read(tmp_path: Path, last: str) -> None:
    path = tmp_path / "whole.csv"
    path.write_text(HEAD + last)
    assert [r.value for r in read_records(path, ignore_columns=["note"])] == [41.5, 41.6]


def test_backtest_of_a_cut_file_is_one_line_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cut.csv"
    path.write_text('timestamp,value\n2024-05-01T00:00:00Z,"1.5"\n2024-05-01T00:01:00Z,"1.')
    assert main(["backtest", str(path), "--out", str(tmp_path / "o"), "--no-progress", "--no-report"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"twin: error: input file {path} line 3: ends inside a quoted field: the file was cut short "
        "(its last row is not whole)"]

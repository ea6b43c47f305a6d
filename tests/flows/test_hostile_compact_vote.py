"""``twin archive compact`` and a part of other column types (round 40, part HOSTILE40b).

The views leave out a file whose column types disagree with most files' (a vote that counts files,
:func:`flows.archive.files.vote`). Compaction merged the majority's N parts into one file and left
the odd part as it was, without a word: with the odd part's name sorting first and one date, the vote
was then one file against one, and the odd part won it. Every query read the odd part's rows in place
of the merged file's (every row of the merged parts), ``archive check`` called the merged file
incompatible and ``--repair`` moved it aside. Now a compaction that would change which files the
views read leaves the table as it was (one line naming the odd part, exit 2); one that would not
merges and names the part it left (one warning line)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.archive.files import scan_table
from flows.cli.main import main
from flows.dataflow.sinks.archive import write_rows
from tests.flows.test_compact_stream import _rows

BEFORE = "2026-01-03"


def _part(p: int, day: int = 1) -> list[dict[str, Any]]:
    """Part ``p``'s rows: 3 assets x 5 windows of its own (no part's row hides another's in the views)."""
    shift = timedelta(days=day - 1, minutes=10 * p)
    return [dict(r, window_start=r["window_start"] + shift, window_end=r["window_end"] + shift,
                 date=f"2026-01-{day:02d}") for r in _rows(3, 5, seed=p, extra=False)]


def _odd_part(folder: Path, name: str, seed: int) -> Path:
    """A part of the same keys whose ``vib.rms`` is text (as a hand-made or foreign writer's)."""
    write_rows(folder.parents[1], "features", _part(seed, int(folder.name[-2:])), "tmp-odd", f"odd{seed}")
    src = folder / "tmp-odd.parquet"
    data = pq.read_table(src)
    i = data.schema.get_field_index("vib.rms")
    data = data.set_column(i, pa.field("vib.rms", pa.string()), data.column(i).cast(pa.string()))
    pq.write_table(data, folder / f"{name}.parquet")
    src.unlink()
    return folder / f"{name}.parquet"


def _archive(root: Path, odd: str, parts: int = 4) -> Path:
    for p in range(parts):
        write_rows(root, "features", _part(p), f"part-r{p}-w0-{p:06d}", f"r{p}")
    return _odd_part(root / "features" / "date=2026-01-01", odd, 9)


def _runs(root: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The run ids the ``features`` view shows (the odd part's is ``odd9``)."""
    capsys.readouterr()
    assert main(["sql", "SELECT DISTINCT run_id FROM features ORDER BY 1", "--archive", str(root),
                 "--format", "csv"]) == 0
    return [r["run_id"] for r in csv.DictReader(io.StringIO(capsys.readouterr().out))]


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_compaction_that_would_let_the_odd_part_win_leaves_the_folder_and_says_why(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "a"
    odd = _archive(root, "part-a-odd")  # sorts before part-compact-*: it wins a vote of one to one
    shown = _runs(root, capsys)
    assert shown == ["r0", "r1", "r2", "r3"]
    before = _files(odd.parent)
    assert main(["archive", "compact", "--archive", str(root), "--before", BEFORE]) == 2
    err = capsys.readouterr().err
    line = err.strip().splitlines()[-1]
    assert line.startswith("twin: error: 1 date folder left as it was: features 2026-01-01: merged, ")
    assert "would no longer outvote features/date=2026-01-01/part-a-odd.parquet (incompatible schema" in line
    assert "--repair" in line
    assert _files(odd.parent) == before
    assert _runs(root, capsys) == shown  # the views as they were
    assert [b.path for b in scan_table(root, "features").bad] == [odd]
    # the remedy named: move the odd part aside, then compaction merges the folder
    assert main(["archive", "check", "--archive", str(root), "--repair"]) == 0
    assert main(["archive", "compact", "--archive", str(root), "--before", BEFORE]) == 0
    assert _runs(root, capsys) == shown and len(_files(odd.parent)) == 1


def test_the_vote_is_the_table_s_so_another_date_s_odd_part_counts_too(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "a"
    for p in range(3):  # three parts of 2026-01-02; the odd part alone in 2026-01-01
        write_rows(root, "features", _part(p, 2), f"part-r{p}-w0-{p:06d}", f"r{p}")
    (root / "features" / "date=2026-01-01").mkdir()
    odd = _odd_part(root / "features" / "date=2026-01-01", "part-r9-w0-000000", 9)
    shown = _runs(root, capsys)
    assert shown == ["r0", "r1", "r2"]
    assert main(["archive", "compact", "--archive", str(root), "--before", BEFORE]) == 2
    assert "features 2026-01-02: merged, " in capsys.readouterr().err
    assert _runs(root, capsys) == shown
    assert [b.path for b in scan_table(root, "features").bad] == [odd]


def test_a_part_left_out_for_its_types_is_named_when_the_others_are_merged(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "a"
    odd = _archive(root, "part-z-odd")  # sorts after part-compact-*: the merged file keeps the vote
    shown = _runs(root, capsys)
    assert main(["archive", "compact", "--archive", str(root), "--before", BEFORE]) == 0
    out, err = capsys.readouterr()
    assert "features 2026-01-01: 4 files -> " in out
    assert err == ("twin: warning: skipped 1 unreadable or foreign archive file: features/date=2026-01-01/"
                   "part-z-odd.parquet (incompatible schema: Unable to merge: Field vib.rms has incompatible "
                   f"types: double vs string) (see `twin archive check --archive {root}`)\n")
    assert odd.exists() and len(_files(odd.parent)) == 2
    assert _runs(root, capsys) == shown
    assert [b.path for b in scan_table(root, "features").bad] == [odd]


def test_the_refusal_names_an_odd_part_with_a_line_break_as_it_is_named(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Round 41 (HOSTILE41): the refusal's line showed a line break in the odd part's name as a space
    (``part-a odd.parquet``: no such file; the warnings show ``\\n``), and a quote as it is."""
    root = tmp_path / "a"
    odd = _archive(root, "part-a\nodd'\"")
    before = _files(odd.parent)
    assert main(["archive", "compact", "--archive", str(root), "--before", BEFORE]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "would no longer outvote features/date=2026-01-01/part-a\\nodd'\".parquet (incompatible" in line
    assert _files(odd.parent) == before

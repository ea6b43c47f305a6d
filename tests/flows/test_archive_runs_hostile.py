"""A compacted file's ``run_id`` column is any text (round 34, HOSTILE34): the warning that an archive
holds earlier runs names at most three of them, each shortened to its two ends. Before, a run id of
100,000 characters (a foreign or damaged compacted file) made a warning line of 100,000 characters."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from flows.app.out_dir import earlier_runs, mixing_line


def test_a_run_id_of_100_000_characters_is_shortened_in_the_warning(tmp_path: Path) -> None:
    long = "r" * 50_000 + "z" * 50_000
    folder = tmp_path / "features" / "date=2026-01-01"
    folder.mkdir(parents=True)
    table = pa.table({"run_id": pa.array([long, "short-run"]).dictionary_encode(), "asset_id": ["a", "b"]})
    pq.write_table(table, folder / "part-compact-20260101T000000-0123abcd.parquet")
    assert earlier_runs(tmp_path) == {long, "short-run"}
    line = mixing_line("archive", tmp_path, "use --fresh")
    assert line is not None and len(line) < 800 and "\n" not in line
    assert "2 earlier runs (rrrrrrrr" in line and "zzz, short-run) for 2 assets over 1 date" in line

"""Compaction merges a date folder as sorted streams (round 39, DURABLE39): the merged file is the
one the in-memory merge wrote, byte for byte, and memory does not hold the folder.

Before, :func:`flows.archive.compact.compact_date` concatenated every file of the folder, sorted the
whole and wrote it. :func:`_in_memory` below is that code (the reference); the streamed merge
(:mod:`flows.archive.merge`) must give the same bytes, over batch and row-group boundaries, ties
(a resumed run's rewrites of the same keys), files lacking a column, an older layout's per-asset
files, an unsorted file, and more files than one pass merges (``FAN_IN`` made small here).
"""

from __future__ import annotations

import json
import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.archive import merge
from flows.archive.compact import compact_archive
from flows.archive.files import SUPERSEDES, ArchiveFile, scan_table
from flows.archive.layout import sorted_rows, write_file, write_options
from flows.dataflow.sinks.archive import write_rows
from tests.flows.archive_fixtures import T0
from tests.flows.test_archive_compact import _read
from tests.flows.test_archive_layout import _to_old_layout


def _in_memory(table: str, files: list[ArchiveFile], path: Path, row_group_rows: int) -> None:
    """The merge before round 39: every file read, concatenated, sorted, written at once."""
    data = pa.concat_tables([_read(f) for f in files], promote_options="permissive")
    body = [c for c in data.column_names if c != "asset_id" and c not in merge.BOOKKEEPING_NAMES]
    data = sorted_rows(table, data.select(["asset_id", *body, *merge.BOOKKEEPING_NAMES]))
    table_dir = next(p for p in files[0].path.parents if p.name == table)
    sources = [str(f.path.relative_to(table_dir)) for f in files]
    data = data.replace_schema_metadata({SUPERSEDES: json.dumps(sources).encode()})
    write_file(data, path, {**write_options(table, data.schema), "row_group_size": row_group_rows})


def _rows(assets: int, windows: int, seed: int, extra: bool = True) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for w in range(windows):
        start = T0 + timedelta(minutes=w)
        for a in rng.sample(range(assets), assets):
            more = {"vib.kurtosis": rng.random()} if extra and a % 3 == 0 else {}
            rows.append({"asset_id": f"pump-{a:03d}", "date": start.date().isoformat(), "window_start": start,
                         "window_end": start + timedelta(minutes=1), "n_records": w, "events": "",
                         "vib.rms": rng.random(), **more})
    return rows


def _folder(root: Path, parts: int) -> list[ArchiveFile]:
    """``parts`` flushes of one date (some re-writing earlier keys, one without the extra column),
    an older layout's per-asset files, and a hand-made unsorted file."""
    for p in range(parts):
        rows = _rows(7, 13, seed=p, extra=p != 2)
        if p % 4 == 3:  # a resumed run's rewrite of the previous flush's keys
            rows = [{**r, "window_start": r["window_start"] - timedelta(minutes=13)} for r in rows]
        write_rows(root, "features", rows, f"part-r{p}-w0-{p:06d}", f"r{p}")
    write_rows(root / "old", "features", _rows(3, 5, seed=99), "part-old-w0-000000", "old")
    _to_old_layout(root / "old", root)
    shuffled = root / "features" / "date=2026-01-01" / "part-zz-hand.parquet"
    write_rows(root / "hand", "features", _rows(4, 6, seed=7), "part-hand-w0-000000", "hand")
    data = pq.read_table(next((root / "hand").rglob("*.parquet")))
    pq.write_table(data.take(list(reversed(range(data.num_rows)))), shuffled)
    return [f for f in scan_table(root, "features").files if str(f.date) == "2026-01-01"]


@pytest.mark.parametrize(("fan_in", "read_rows", "whole", "group_rows", "parts"),
                         [(16, 1024, 4096, 8192, 5), (3, 7, 4096, 50, 11), (2, 1, 0, 16, 6), (4, 5, 3, 1, 9)])
def test_the_streamed_merge_writes_the_in_memory_merge_s_bytes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fan_in: int, read_rows: int, whole: int,
        group_rows: int, parts: int) -> None:
    files = _folder(tmp_path / "a", parts)
    assert any(f.asset_id is not None for f in files) and len(files) > parts
    _in_memory("features", files, tmp_path / "before.parquet", group_rows)
    monkeypatch.setattr(merge, "FAN_IN", fan_in)
    monkeypatch.setattr(merge, "READ_ROWS", read_rows)
    monkeypatch.setattr(merge, "WHOLE_GROUP_ROWS", whole)  # 0: every row group read in pieces
    monkeypatch.setattr(merge, "ROW_GROUP_ROWS", group_rows)
    before = pq.read_table(tmp_path / "before.parquet")
    sources = [str(f.path.relative_to(tmp_path / "a" / "features")) for f in files]
    schema = merge.merged_schema(files).with_metadata({SUPERSEDES: json.dumps(sources).encode()})
    options = {k: v for k, v in write_options("features", schema).items() if k != "row_group_size"}
    after = tmp_path / "a" / "features" / "date=2026-01-01" / ".part-compact-t.parquet.tmp"
    assert merge.write_merged("features", files, schema, after, options) == before.num_rows
    assert pq.read_table(after).equals(before, check_metadata=True)
    assert after.read_bytes() == (tmp_path / "before.parquet").read_bytes()
    left = sorted(p.name for p in after.parent.iterdir() if p.name.startswith("."))
    assert left == [after.name]  # the passes' run files are gone


def test_a_compaction_of_many_parts_keeps_the_rows_and_leaves_no_run_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = _folder(tmp_path / "a", 10)
    _in_memory("features", files, tmp_path / "before.parquet", 8192)
    monkeypatch.setattr(merge, "FAN_IN", 3)
    monkeypatch.setattr(merge, "READ_ROWS", 4)
    done, _ = compact_archive(tmp_path / "a", T0.date() + timedelta(days=1), "part-compact-t",
                              tables=("features",))
    rows = pq.read_metadata(tmp_path / "before.parquet").num_rows
    assert [(c.files, c.rows) for c in done] == [(len(files), rows)]
    assert done[0].path.read_bytes() == (tmp_path / "before.parquet").read_bytes()
    names = sorted(p.name for p in done[0].path.parent.rglob("*") if p.is_file())  # old layout's folders stay
    assert names == ["part-compact-t.parquet"]


def test_an_unreadable_file_found_in_a_later_pass_leaves_the_folder_as_it_was(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = _folder(tmp_path / "a", 8)
    folder = files[0].path.parent
    before = sorted(p.name for p in folder.iterdir())
    victim = files[-1].path  # read in the last group of the first pass
    raw = bytearray(victim.read_bytes())
    raw[4:40] = b"\xff" * 36  # data pages, footer intact
    victim.write_bytes(bytes(raw))
    monkeypatch.setattr(merge, "FAN_IN", 3)
    skipped: list[str] = []
    done, _ = compact_archive(tmp_path / "a", T0.date() + timedelta(days=1), "part-compact-t",
                              tables=("features",), skipped=skipped)
    assert done == [] and len(skipped) == 1 and victim.name in skipped[0]
    assert sorted(p.name for p in folder.iterdir()) == before

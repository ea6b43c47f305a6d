"""The archive benchmarks' 100-asset data and floors (issue 10, round 21, part archive21).

Rounds 1-20 replicated the demo's 8 assets into 100 as exact copies: ~12 assets with the same
values at the same times, which made the floor's default dictionaries and snappy ~3x cheaper
than on any fleet's values. ``--values other-times`` (the default now) gives each replica its
demo asset's own values from other times; ``--values copies`` keeps the old data.
``floor_same_settings`` writes the floor's rows with the sink's file settings.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from benchmarks import bench_archive
from benchmarks.bench_archive_allin import floor_same_settings

T0 = datetime(2026, 1, 5, tzinfo=UTC)


def _rows(windows: int = 6) -> list[dict[str, Any]]:
    """Two demo assets' features rows as ``read_table`` gives them (value = asset * 100 + hour)."""
    rows = []
    for a, asset in enumerate(("pump-a", "pump-b")):
        for h in range(windows):
            start = T0 + timedelta(hours=h)
            rows.append({"asset_id": asset, "date": start.strftime("%Y-%m-%d"), "window_start": start,
                         "window_end": start + timedelta(hours=1), "n_records": 10 + h, "events": "",
                         "inputs": json.dumps([{"source": f"t/{a}", "first": h, "last": h + 1}]),
                         "x.mean": float(a * 100 + h), "y.max": None})
    return rows


def _series(records: list[Any]) -> dict[str, list[tuple[datetime, float, int, tuple[Any, ...]]]]:
    out: dict[str, list[tuple[datetime, float, int, tuple[Any, ...]]]] = {}
    for fv in records:
        out.setdefault(fv.asset_id, []).append((fv.window_start, dict(fv.features)["x.mean"], fv.n_records,
                                                fv.inputs))
    return {k: sorted(v) for k, v in out.items()}


def test_copies_repeat_each_demo_assets_values_time_for_time() -> None:
    series = _series(bench_archive.feature_records(_rows(), 6, "copies"))
    assert sorted(series) == [f"pump-{a}~r{k}" for a in "ab" for k in range(3)]
    for a in "ab":
        assert series[f"pump-{a}~r1"] == series[f"pump-{a}~r0"] == series[f"pump-{a}~r2"]
        spans = [(s.first, s.last) for _t, _v, _n, (s,) in series[f"pump-{a}~r1"]]
        assert spans == [(h, h + 1) for h in range(6)]  # the demo asset's own ranges


def test_other_times_give_every_replica_its_assets_values_rotated_and_keep_its_keys() -> None:
    records = bench_archive.feature_records(_rows(), 6)
    series = _series(records)
    shift = bench_archive._shift(6, 3)
    assert shift == 2
    for a, base in (("a", 0), ("b", 100)):
        own = [float(base + h) for h in range(6)]
        for k in range(3):
            got = series[f"pump-{a}~r{k}"]
            assert [v for _t, v, _n, _i in got] == own[k * shift:] + own[:k * shift]
            assert [(t, n) for t, _v, n, _i in got] == [(T0 + timedelta(hours=h), 10 + h) for h in range(6)]
            # its own input ranges: the demo's offsets interleaved over the 3 replicas
            assert [(s.source, s.first, s.last) for _t, _v, _n, (s,) in got] == [
                (f"t/{'ab'.index(a)}", 3 * h + k, 3 * (h + 1) + k) for h in range(6)]
        at_once = list(zip(*(series[f"pump-{a}~r{k}"] for k in range(3)), strict=True))
        assert all(len({v for _t, v, _n, _i in same_time}) == 3 for same_time in at_once)
    # a missing value stays missing (NaN -> null in the archive), whatever the time it comes from
    assert all(math.isnan(dict(fv.features)["y.max"]) for fv in records)


def test_an_unknown_values_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="values must be one of other-times, copies"):
        bench_archive.feature_records(_rows(), 6, "random")


def _encodings(path: Path, column: str) -> set[str]:
    meta = pq.ParquetFile(path).metadata
    i = meta.schema.names.index(column)
    return set(meta.row_group(0).column(i).encodings)


def test_the_floor_with_the_sinks_settings_writes_the_same_rows_as_the_sink_would(tmp_path: Path) -> None:
    records = bench_archive.feature_records(_rows(), 4)
    tables = bench_archive.floor_tables([records])
    assert floor_same_settings(tables, tmp_path / "same") >= 0.0
    bench_archive.floor_write(tables, tmp_path / "floor")
    same, floor = tmp_path / "same" / "one-0.parquet", tmp_path / "floor" / "one-0.parquet"
    assert pq.read_table(same).equals(tables[0]) and pq.read_table(floor).equals(tables[0])
    # the floor's defaults build a dictionary of a double column; the sink's settings do not
    assert any("DICTIONARY" in e for e in _encodings(floor, "x.mean"))
    assert not any("DICTIONARY" in e for e in _encodings(same, "x.mean"))
    assert any("DICTIONARY" in e for e in _encodings(same, "asset_id"))
    assert isinstance(tables[0], pa.Table) and tables[0].num_rows == 4 * 6

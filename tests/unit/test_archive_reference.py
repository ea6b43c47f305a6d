"""The ``features`` files the sink writes equal a plain reference builder's tables (issue 10, round 22).

The sink's columnar path (window tails, blocks, codes, one sort, one feature matrix) is checked
here against the simplest builder there is: one Python dict per window, the names of each window
sorted, the union of them in order of first appearance, ``pa.Table.from_pylist`` with the file
schema, a stable sort by (asset_id, window_start), one table per UTC date in order of first
appearance. Every file the sink writes is read back and compared as an Arrow table (types,
column order, rows and their order, nulls), on the edge cases of a flush: one window, windows of
one asset, codes arriving in any order (many assets), a NaN and an infinity (null), a window
without features, missing channels (two name sets in one flush), several dates, several sources,
windows with and without the window step's packed tails, and an empty flush (no file).
"""

from __future__ import annotations

import math
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.codec.record_fields import FEATURE_VECTOR, spans_text
from flows.dataflow.sinks.archive import write_records
from flows.dataflow.sinks.feature_blocks import _coded
from flows.dataflow.window_tail import pack
from tests.unit.test_serde import make_event, make_feature_vector
from twin_models.feature_map import feature_map
from twin_models.records import InputSpan

T = datetime(2026, 3, 28, 21, tzinfo=UTC)
BOOKKEEPING = ["run_id", "_written_at", "_write_seq"]
_EVENTS = next(c.value for c in FEATURE_VECTOR.columns if c.name == "events")
_FIXED = [("asset_id", pa.string()), ("window_start", pa.timestamp("us", tz="UTC")),
          ("window_end", pa.timestamp("us", tz="UTC")), ("n_records", pa.int64()), ("events", pa.string()),
          ("inputs", pa.string())]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _us(t: datetime) -> int:
    return (t - _EPOCH) // timedelta(microseconds=1)


def reference(records: list[Any]) -> dict[str, pa.Table]:
    """The features tables of ``records`` built the plain way (no code of the sink's path)."""
    by_date: dict[str, list[Any]] = {}
    for r in records:
        by_date.setdefault(r.window_start.astimezone(UTC).date().isoformat(), []).append(r)
    out = {}
    for date, part in by_date.items():
        names = list(dict.fromkeys(k for r in part for k in sorted(r.features)))
        rows = []
        for r in part:
            row = {"asset_id": r.asset_id, "window_start": r.window_start, "window_end": r.window_end,
                   "n_records": r.n_records, "events": _EVENTS(r) if r.events else "",
                   "inputs": spans_text(r.inputs)}
            for k in names:
                v = r.features.get(k)
                row[k] = None if v is None or not math.isfinite(v) else float(v)
            rows.append(row)
        schema = pa.schema(_FIXED + [(k, pa.float64()) for k in names])
        table = pa.Table.from_pylist(rows, schema=schema)
        out[date] = table.sort_by([("asset_id", "ascending"), ("window_start", "ascending")])
    return out


def _written(records: list[Any], root: Path) -> dict[str, pa.Table]:
    """What the sink writes for ``records`` in one flush, read back without its bookkeeping."""
    files = write_records(root, "features", records, "part-test-w0-000000", "run-test")
    tables = {p.parent.name.removeprefix("date="): pq.read_table(p)
              for p in sorted((root / "features").rglob("*.parquet"))}
    assert files == len(tables)
    for t in tables.values():
        assert t.column_names[-3:] == BOOKKEEPING
        assert t.column("run_id").unique().to_pylist() == ["run-test"]
    return {d: t.drop_columns(BOOKKEEPING) for d, t in tables.items()}


def _stamped(r: Any) -> Any:
    """``r`` as the window step gives it: its feature map with the packed tail."""
    return replace(r, features=feature_map(dict(r.features), pack(
        r.asset_id, _us(r.window_start), _us(r.window_end), r.n_records, len(r.events), r.inputs)))


def _window(asset: str, start: datetime, values: dict[str, float], *, n: int = 3, span: Any = None,
            events: tuple[Any, ...] = ()) -> Any:
    first = _us(start) // 1000
    span = span if span is not None else (InputSpan("sim:seed=7", first, first + 9),)
    return replace(make_feature_vector(), asset_id=asset, window_start=start,
                   window_end=start + timedelta(hours=1), features=feature_map(values), n_records=n,
                   events=events, inputs=span)


def _fleet(assets: int, hours: int, seed: int = 1) -> list[Any]:
    """``assets`` assets' hourly windows arriving time by time, the assets in a shuffled order
    (codes of a process's table arrive in any order), across midnight."""
    rng = random.Random(seed)
    ids = [f"a{i:03d}" for i in range(assets)]
    out = []
    for h in range(hours):
        rng.shuffle(ids)
        for a in ids:
            values = {"vib.rms": rng.random(), "temperature.mean": 40 + rng.random(), "vib.kurtosis": 3.0}
            out.append(_window(a, T + timedelta(hours=h), values, n=h))
    return out


def _cases() -> dict[str, list[Any]]:
    fleet = _fleet(37, 6)
    odd = [replace(r, features=feature_map({**r.features, "vib.rms": math.nan})) if i % 7 == 0 else r
           for i, r in enumerate(fleet)]
    odd[3] = replace(odd[3], features=feature_map({"vib.rms": math.inf, "temperature.mean": -math.inf,
                                                    "vib.kurtosis": 1.0}))
    missing = [replace(r, features=feature_map({"temperature.mean": 1.0 * i}))
               if i % 5 == 0 else r for i, r in enumerate(fleet)]
    sources = [replace(r, inputs=(InputSpan(f"kafka:twin.telemetry.scalar.v1:{i % 3}", 10 * i, 10 * i + 9),))
               for i, r in enumerate(fleet)]
    several = [replace(r, inputs=(InputSpan("kafka:t:0", i, i + 1), InputSpan("kafka:t:1", 2 * i, 2 * i + 5))
                       if i % 4 == 0 else () if i % 4 == 1 else r.inputs) for i, r in enumerate(fleet)]
    evented = [replace(r, events=(make_event(kind="maintenance"),)) if i % 9 == 2 else r
               for i, r in enumerate(fleet)]
    one_asset = [r for r in fleet if r.asset_id == "a005"]
    empty_features = [replace(r, features=feature_map({})) if i % 6 == 1 else r for i, r in enumerate(fleet)]
    return {
        "one-window": fleet[:1],
        "one-asset": one_asset,
        "fleet-across-midnight": fleet,
        "nan-and-inf": odd,
        "missing-channels": missing,
        "a-window-without-features": empty_features,
        "sources": sources,
        "several-or-no-spans": several,
        "events": evented,
        "late-window-of-an-earlier-date": [*fleet[40:], fleet[2]],
    }


CASES = _cases()


@pytest.mark.parametrize("tails", [True, False], ids=["window-step-tails", "objects"])
@pytest.mark.parametrize("name", list(CASES))
def test_the_sinks_files_are_the_reference_tables(tmp_path: Path, name: str, tails: bool) -> None:
    records = CASES[name]
    if tails:
        records = [_stamped(r) for r in records]
    want = reference(records)
    got = _written(records, tmp_path)
    assert list(got) == sorted(want)  # one file per date
    for date, table in want.items():
        assert got[date].schema.equals(table.schema), (date, got[date].schema, table.schema)
        assert got[date].equals(table), date


def test_an_empty_flush_writes_no_file(tmp_path: Path) -> None:
    assert write_records(tmp_path, "features", [], "part-test-w0-000000", "run-test") == 0
    assert not list(tmp_path.rglob("*"))


def _coded_reference(codes: list[int], table: list[str]) -> tuple[list[str], list[int]]:
    distinct = list(dict.fromkeys(codes))
    return [table[c] for c in distinct], [distinct.index(c) for c in codes]


@pytest.mark.parametrize("shape", ["one", "few", "many-shuffled", "sparse-large-codes", "pairs"])
def test_codes_are_numbered_by_first_appearance(shape: str) -> None:
    """A block's asset (and source) codes: the distinct values in order of first appearance and
    each window's position among them, whether the codes are a fleet's (by position) or spread
    over a large range (sorted)."""
    rng = random.Random(shape)
    table = [f"id-{i}" for i in range(200_000)]
    codes = {
        "one": [7] * 5,
        "few": [3, 1, 3, 2, 1, 0, 2],
        "many-shuffled": rng.sample(range(300), 300) * 3,
        "sparse-large-codes": [rng.randrange(200_000) for _ in range(50)],
        "pairs": [9, 4],
    }[shape]
    ids, positions = _coded(np.array(codes, np.int64), table)
    want_ids, want_positions = _coded_reference(codes, table)
    assert ids == want_ids
    assert positions.tolist() == want_positions

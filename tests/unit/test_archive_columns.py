"""The sink's columnar conversion writes the same files as the row path (issue 10, part SINK).

:func:`flows.dataflow.sinks.archive.write_records` (records -> Arrow column by column) replaced
``archive_row`` per record + the row dicts' conversion in the sink. Each case writes the same records
both ways and compares every file: same dates, columns in the same order, same types, same rows
in the same order, same nulls.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.codec.command_fields import ARCHIVE_MAPPINGS as MAPPINGS
from flows.dataflow.sinks.archive import ParquetArchiveSink, write_records, write_rows
from tests.unit.test_serde import make_alert, make_event, make_feature_vector, make_snapshot

T = datetime(2026, 1, 8, 22, tzinfo=UTC)
ROW = {m.table: m.archive_row for m in MAPPINGS}
BOOKKEEPING = ["run_id", "_written_at", "_write_seq"]


def _features() -> list[Any]:
    """Shapes that differ (a downtime window without vibration keys first, keys inserted in another
    order, no features at all), non-finite, None, int, -0.0 and tiny values, several assets out of
    order, two dates (the windows cross midnight), and a tie on (asset, time)."""
    base = make_feature_vector()
    maps: list[dict[str, Any]] = [
        {"temperature.mean": 40.0},
        {"vib.rms": 0.147, "temperature.mean": 41, "vib.kurtosis": math.nan},
        {"temperature.mean": math.inf, "vib.rms": 1e-300, "a.b": -0.0},
        {},
        {"vib.kurtosis": None, "vib.rms": -math.inf, "temperature.mean": 39.5},
        {"temperature.mean": 40.5, "vib.rms": 0.2, "vib.kurtosis": 3.0},
    ]
    out = []
    for i in range(18):
        events = (make_event(kind="failure"), make_event(kind="maintenance")) if i % 7 == 3 else ()
        out.append(replace(base, asset_id=f"p{(i * 5) % 4}", window_start=T + timedelta(hours=i % 5),
                           window_end=T + timedelta(hours=i % 5 + 1), features=maps[i % len(maps)],
                           n_records=i, events=events))
    return [*out, replace(out[0], n_records=99)]  # same (asset, window) as out[0]: arrival order kept


def _snapshots() -> list[Any]:
    """JSON columns whose rows the columnar path writes by orjson or by json.dumps (tiny, non-finite
    and int values, a name with a colon), repeated and distinct quality states."""
    base = make_snapshot()
    contexts = [{"speed.mean": 24.43, "load.std": 0.0205}, {"speed.mean": 3e-05, "load.std": math.nan}, {},
                {"speed.mean": 1e16, "load:std": -0.0}, {"speed.mean": 2}]
    tops = [(("vib.rms", 1.679), ("vib.peak", -1.5)), (), (("vib.rms", math.inf),), (("vib.rms", 1e-7),)]
    quality = [(("vib", "ok", ""), ("speed", "ok", "")), (("vib", "bad", "flatline"),), ()]
    return [replace(base, asset_id=f"p{i % 3}", window_start=T + timedelta(hours=i % 4),
                    timestamp=T + timedelta(hours=i % 4 + 1), n_windows=i,
                    rul_s=None if i % 2 else 3600.0 * i, defect=None if i % 3 else "bpfo",
                    context=contexts[i % 5], top_features=tops[i % 4], data_quality=quality[i % 3],
                    damage=[None, 0.25, math.nan, 1e-9][i % 4])
            for i in range(10)]


def _alerts() -> list[Any]:
    base = make_alert()
    return [replace(base, asset_id=f"p{i % 2}", sequence=i + 1, timestamp=T + timedelta(hours=i),
                    rul_s=None if i % 2 else 60.0, defect="bsf" if i == 2 else None) for i in range(5)]


def _files(root: Path, table: str) -> dict[str, pa.Table]:
    return {p.parent.name: pq.read_table(p).drop_columns(BOOKKEEPING)
            for p in sorted((root / table).rglob("*.parquet"))}


@pytest.mark.parametrize(("table", "records"), [
    ("features", _features()), ("twin_state", _snapshots()), ("alerts", _alerts())])
def test_records_are_written_as_their_rows_are(tmp_path: Path, table: str, records: list[Any]) -> None:
    rows = [ROW[table](r) for r in records]
    assert write_rows(tmp_path / "rows", table, rows, "part-x", "r") == 2
    assert write_records(tmp_path / "records", table, records, "part-x", "r") == 2
    want, got = _files(tmp_path / "rows", table), _files(tmp_path / "records", table)
    assert list(got) == list(want) == ["date=2026-01-08", "date=2026-01-09"]
    for day, data in got.items():
        assert data.schema == want[day].schema
        assert data.to_pylist() == want[day].to_pylist()


def test_the_sink_writes_what_it_was_given_with_its_bookkeeping(tmp_path: Path) -> None:
    """Through the sink's partition: every record once, each file's bookkeeping filled."""
    records = _features()
    part = ParquetArchiveSink(tmp_path, "features", batch_rows=7, flush_interval_s=1e9,
                              run_id="run-1").build_part("features_out_0", "w0", None)
    for i in range(0, len(records), 4):
        part.write_batch(records[i:i + 4])
    part.close()
    data = pa.concat_tables([pq.read_table(p) for p in sorted((tmp_path / "features").rglob("*.parquet"))],
                            promote_options="default")
    assert sorted(data.column("n_records").to_pylist()) == sorted(r.n_records for r in records)
    assert set(data.column("run_id").to_pylist()) == {"run-1"}
    assert data.column("_write_seq").null_count == data.column("_written_at").null_count == 0


def test_a_feature_value_that_is_not_a_number_is_still_refused(tmp_path: Path) -> None:
    bad = replace(make_feature_vector(), features={"vib.rms": "high"})
    with pytest.raises(ValueError, match="could not convert"):
        write_records(tmp_path, "features", [make_feature_vector(), bad], "part-x")
    assert not list(tmp_path.rglob("*.parquet"))


def test_text_columns_get_a_dictionary_and_numbers_are_written_plain(tmp_path: Path) -> None:
    """Features and scores are nearly all distinct within a row group: a dictionary repeats them."""
    write_records(tmp_path, "features", _features()[:6], "part-x", "r")
    meta = pq.ParquetFile(next((tmp_path / "features").rglob("*.parquet"))).metadata
    group = meta.row_group(0)
    encodings = {group.column(i).path_in_schema: group.column(i).encodings for i in range(group.num_columns)}
    assert "RLE_DICTIONARY" in encodings["asset_id"]
    assert "RLE_DICTIONARY" in encodings["run_id"]
    for numeric in ("vib.rms", "temperature.mean", "n_records", "window_start", "_write_seq"):
        assert "RLE_DICTIONARY" not in encodings[numeric], (numeric, encodings[numeric])

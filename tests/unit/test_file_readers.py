"""File readers for ``twin replay`` / ``twin backtest``: formats, detection, ordering, errors, metadata."""

from __future__ import annotations

import csv
import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.dataflow.sources.files import (
    FileFormatError,
    MetadataCatalog,
    ReadStats,
    count_records,
    merge_files,
    read_metadata,
    read_records,
)
from flows.dataflow.sources.readers import waveforms
from tests.datasets import datasets_dir
from twin_models.records import AssetEvent, BearingGeometry, ScalarSample, WaveformFrame

T0 = datetime(2024, 5, 1, tzinfo=UTC)
FLOAT32 = pa.float32()


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _dataset(*parts: str) -> Path:
    root = datasets_dir()
    path = root.joinpath(*parts) if root is not None else None
    if path is None or not path.exists():
        where = "/".join(parts)
        pytest.skip(f"dataset file {where} not found: set TWIN_DATASETS or provide ../shared/datasets")
    return path


Row = tuple[datetime, str, list[float] | None]


def _frames_table(rows: list[Row], *, shaft: list[float | None] | None = None,
                  value_type: pa.DataType = FLOAT32) -> pa.Table:
    cols = {
        "timestamp": pa.array([r[0] for r in rows], pa.timestamp("us", tz="UTC")),
        "asset_id": [r[1] for r in rows],
        "sample_rate_hz": [1000.0] * len(rows),
        "vib": pa.array([r[2] for r in rows], pa.list_(value_type)),
    }
    if shaft is not None:
        cols["shaft_speed_hz"] = pa.array(shaft, pa.float64())
    return pa.table(cols)


# --------------------------------------------------------------------------- NAB (real files)


@pytest.mark.dataset
def test_nab_file_gives_one_sample_per_row_named_after_the_file() -> None:
    path = _dataset("nab", "data", "realKnownCause", "ambient_temperature_system_failure.csv")
    with path.open() as f:
        rows = list(csv.reader(f))[1:]
    stats = ReadStats()
    recs = list(read_records(path, stats=stats))
    assert len(recs) == len(rows) == stats.rows == stats.records
    assert all(isinstance(r, ScalarSample) for r in recs)
    assert {r.asset_id for r in recs} == {"ambient_temperature_system_failure"}
    assert {r.channel for r in recs} == {"value"}
    # naive NAB timestamps are taken as UTC
    assert recs[0].timestamp == datetime.fromisoformat(rows[0][0]).replace(tzinfo=UTC)
    assert recs[-1].timestamp == datetime.fromisoformat(rows[-1][0]).replace(tzinfo=UTC)
    assert recs[0].value == float(rows[0][1]) and recs[-1].value == float(rows[-1][1])


@pytest.mark.dataset
def test_nab_corpus_reads_in_time_order_with_exact_counts() -> None:
    root = _dataset("nab", "data")
    files = sorted(root.glob("*/*.csv"))
    assert len(files) >= 30
    for path in files:
        recs = list(read_records(path))
        data_rows = sum(1 for line in path.read_text().splitlines()[1:] if line.strip())
        assert len(recs) == data_rows == count_records([path]), path.name
        assert all(a.timestamp <= b.timestamp for a, b in zip(recs, recs[1:], strict=False)), path.name
        assert recs[0].asset_id == path.stem


@pytest.mark.dataset
def test_nab_machine_temperature_repeated_hour_is_sorted_into_place() -> None:
    # line 10151 of this file goes back from 02:55 to 02:00 (the hour is recorded twice)
    path = _dataset("nab", "data", "realKnownCause", "machine_temperature_system_failure.csv")
    stats = ReadStats()
    recs = list(read_records(path, stats=stats))
    assert stats.reordered
    assert len(recs) == 22695
    at_two = [r.value for r in recs if r.timestamp == datetime(2014, 1, 7, 2, 0, tzinfo=UTC)]
    assert len(at_two) == 2


# --------------------------------------------------------------------------- scalar tables


SEMICOLON_TABLE = """timestamp;asset_id;temp;status;current
2024-05-01T00:00:00Z;pump-1;41.5;;3.2
2024-05-01T00:10:00Z;pump-1;41.7;ok;
2024-05-01T00:05:00+02:00;pump-2;NaN;running;3.3
"""


def test_text_column_is_refused_naming_the_column_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "plant.csv", SEMICOLON_TABLE)
    with pytest.raises(FileFormatError) as info:
        list(read_records(path, sep=";"))
    err = info.value
    assert str(err).startswith(f"{path} line 3, column 'status': 'ok' is not a number")
    assert "ignore_columns" in str(err)
    assert (err.line, err.column) == (3, "status")


def test_scalar_table_with_ignored_text_column(tmp_path: Path) -> None:
    path = _write(tmp_path, "plant.csv", SEMICOLON_TABLE)
    stats = ReadStats()
    recs = list(read_records(path, sep=";", ignore_columns=["status"], stats=stats))
    assert recs == [
        ScalarSample("pump-2", "current", datetime(2024, 4, 30, 22, 5, tzinfo=UTC), 3.3),
        ScalarSample("pump-1", "temp", T0, 41.5),
        ScalarSample("pump-1", "current", T0, 3.2),
        ScalarSample("pump-1", "temp", T0 + timedelta(minutes=10), 41.7),
    ]
    assert stats.rows == 3 and stats.skipped == {"empty": 1, "non_finite": 1} and stats.reordered
    # the separator is also found from the header when not given
    assert list(read_records(path, ignore_columns=["status"])) == recs


def test_parquet_scalar_table_naive_timestamps_are_utc(tmp_path: Path) -> None:
    naive = [datetime(2024, 5, 1, 0, 0, 0, 123456), datetime(2024, 5, 1, 0, 1)]  # noqa: DTZ001 - on purpose
    table = pa.table({
        "timestamp": pa.array(naive, pa.timestamp("ns")),
        "asset_id": ["m1", "m2"],
        "speed": pa.array([1500, 1490], pa.int32()),
        "temp": pa.array([None, 20.5], pa.float64()),
    })
    path = tmp_path / "table.parquet"
    pq.write_table(table, path)
    stats = ReadStats()
    recs = list(read_records(path, stats=stats))
    t0 = datetime(2024, 5, 1, 0, 0, 0, 123456, tzinfo=UTC)
    assert recs == [
        ScalarSample("m1", "speed", t0, 1500.0),
        ScalarSample("m2", "speed", t0 + timedelta(seconds=59, microseconds=876544), 1490.0),
        ScalarSample("m2", "temp", datetime(2024, 5, 1, 0, 1, tzinfo=UTC), 20.5),
    ]
    assert stats.skipped == {"empty": 1}
    assert count_records([path]) == 4  # rows x channels: an upper bound


def test_parquet_text_column_is_refused_naming_the_row(tmp_path: Path) -> None:
    table = pa.table({"timestamp": ["2024-05-01T00:00:00Z"] * 3, "temp": ["1.5", "2", "warm"]})
    path = tmp_path / "t.parquet"
    pq.write_table(table, path)
    with pytest.raises(FileFormatError, match=r"t\.parquet row 3, column 'temp': 'warm' is not a number"):
        list(read_records(path))


def test_epoch_seconds_offsets_and_gzip(tmp_path: Path) -> None:
    path = tmp_path / "m.csv.gz"
    text = "timestamp,value\n1714521600,1\n1714521600.5,2\n2024-05-01T03:00:01+03:00,3\n"
    path.write_bytes(gzip.compress(text.encode()))
    recs = list(read_records(path))
    assert [r.timestamp for r in recs] == [T0, T0 + timedelta(seconds=0.5), T0 + timedelta(seconds=1)]
    assert recs[0].asset_id == "m" and count_records([path]) == 3
    assert [r.asset_id for r in read_records(path, asset_id="press-7")] == ["press-7"] * 3


def test_out_of_order_csv_is_sorted_stably(tmp_path: Path) -> None:
    path = _write(tmp_path, "s.csv", "timestamp,value\n2024-05-01 00:02:00,3\n2024-05-01 00:00:00,1\n"
                                     "2024-05-01 00:02:00,4\n\n2024-05-01 00:01:00,2\n")
    stats = ReadStats()
    assert [r.value for r in read_records(path, stats=stats)] == [1.0, 2.0, 3.0, 4.0]
    assert stats.reordered


# --------------------------------------------------------------------------- waveforms


@pytest.mark.dataset
def test_femto_bearing_frames() -> None:
    path = _dataset("femto", "Bearing1_1.parquet")
    pf = pq.ParquetFile(path)
    first_row = pf.read_row_group(0).slice(0, 1).to_pylist()[0]
    stats = ReadStats()
    frames = list(read_records(path, stats=stats))
    assert len(frames) == 2 * pf.metadata.num_rows == count_records([path])
    f0, f1 = frames[0], frames[1]
    assert isinstance(f0, WaveformFrame) and f0.asset_id == "Bearing1_1"
    assert (f0.channel, f1.channel) == ("acc_horizontal_g", "acc_vertical_g")
    assert f0.timestamp == f1.timestamp == datetime(2012, 1, 1, tzinfo=UTC)
    assert len(f0.samples) == 2560 and f0.samples.dtype == np.float32
    assert f0.sample_rate_hz == 25600.0 and f0.shaft_speed_hz is None
    np.testing.assert_array_equal(f0.samples, np.asarray(first_row["acc_horizontal_g"], np.float32))
    assert frames[2].timestamp == f0.timestamp + timedelta(seconds=10)
    assert all(a.timestamp <= b.timestamp for a, b in zip(frames, frames[1:], strict=False))
    assert {f.channel for f in frames[::2]} == {"acc_horizontal_g"}
    assert not stats.reordered and not stats.skipped


def test_waveform_blocks_per_asset_are_merged_into_time_order(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(waveforms, "BATCH_ROWS", 2)  # batches that straddle the blocks
    rows = [(T0 + timedelta(seconds=10 * i), "a", [float(i), 1.0]) for i in range(5)]
    rows += [(T0 + timedelta(seconds=10 * i + 5), "b", [float(i), 2.0]) for i in range(4)]
    rows[6] = (rows[6][0], "b", None)
    path = tmp_path / "w.parquet"
    shaft = [25.0] * 8 + [None]
    pq.write_table(_frames_table(rows, shaft=shaft, value_type=pa.float64()), path, row_group_size=4)
    stats = ReadStats()
    frames = list(read_records(path, stats=stats))
    assert [(f.asset_id, f.samples[0]) for f in frames] == [
        ("a", 0), ("b", 0), ("a", 1), ("a", 2), ("b", 2), ("a", 3), ("b", 3), ("a", 4)]
    assert stats.skipped == {"empty_frame": 1} and stats.reordered
    assert frames[-2].shaft_speed_hz is None and frames[0].shaft_speed_hz == 25.0
    assert frames[1].samples.dtype == np.float32 and frames[1].sample_rate_hz == 1000.0


def test_null_and_non_finite_frames_are_skipped(tmp_path: Path) -> None:
    # a null list entry and a frame with NaN samples are skipped and counted
    values = pa.array([1.0, 2.0, 3.0, 4.0, float("nan"), 6.0], pa.float32())
    lists = pa.ListArray.from_arrays(pa.array([0, 2, 4, 6], pa.int32()), values,
                                     mask=pa.array([False, True, False]))
    table = _frames_table([(T0 + timedelta(seconds=s), "a", [0.0]) for s in range(3)])
    path = tmp_path / "w.parquet"
    pq.write_table(table.set_column(3, "vib", lists), path)
    stats = ReadStats()
    frames = list(read_records(path, stats=stats))
    assert [f.samples.tolist() for f in frames] == [[1.0, 2.0]]
    assert stats.skipped == {"empty_frame": 1, "non_finite_frame": 1}


def test_waveform_out_of_order_within_an_asset_is_an_error(tmp_path: Path) -> None:
    rows: list[Row] = [(T0 + timedelta(seconds=s), "a", [1.0]) for s in (0, 20, 10)]
    path = tmp_path / "w.parquet"
    pq.write_table(_frames_table(rows), path)
    with pytest.raises(FileFormatError, match=r"w\.parquet row 3, column 'timestamp': frames of asset 'a' "
                                               r"are out of time order.*\(row 2\).*sort it"):
        next(read_records(path))


def test_waveform_needs_parquet_and_a_sample_rate(tmp_path: Path) -> None:
    path = _write(tmp_path, "w.csv", "timestamp,asset_id,sample_rate_hz,vib\n2024-05-01,a,1000,1\n")
    with pytest.raises(FileFormatError, match="a waveform file is Parquet"):
        list(read_records(path, fmt="waveform"))
    bad_rate = tmp_path / "r.parquet"
    table = _frames_table([(T0, "a", [1.0]), (T0, "a", [2.0])])
    pq.write_table(table.set_column(2, "sample_rate_hz", pa.array([1000.0, 0.5])), bad_rate)
    with pytest.raises(FileFormatError, match=r"row 2, column 'sample_rate_hz': sample rate 0.5"):
        list(read_records(bad_rate))


# --------------------------------------------------------------------------- events


def test_events_file_and_a_bad_event_kind(tmp_path: Path) -> None:
    good = _write(tmp_path, "ev.csv", "timestamp,asset_id,event,note\n2024-05-02T00:00:00Z,p1,Failure,bang\n"
                                      "2024-05-01T00:00:00Z,p1,install,\n")
    assert list(read_records(good)) == [AssetEvent("p1", T0, "install"),
                                        AssetEvent("p1", T0 + timedelta(days=1), "failure", "bang")]
    bad = _write(tmp_path, "bad.csv", "timestamp,asset_id,event\n2024-05-01T00:00:00Z,p1,install\n"
                                      "2024-05-02T00:00:00Z,p1,exploded\n")
    with pytest.raises(FileFormatError) as info:
        list(read_records(bad))
    assert str(info.value).startswith(f"{bad} line 3, column 'event': 'exploded' is not an event kind")


# --------------------------------------------------------------------------- detection and errors


@pytest.mark.parametrize(("text", "kwargs", "expected"), [
    ("time,value\n1,2\n", {}, r"x\.csv: has no 'timestamp' column \(columns: time, value\)"),
    ("timestamp,value\n2024-05-01,1\n2024-05-01,1,2\n", {}, r"x\.csv line 3: has 3 fields, the header has 2"),
    ("timestamp,value\n2024-05-01,1\nyesterday,2\n", {},
     r"x\.csv line 3, column 'timestamp': 'yesterday' is not an ISO 8601 time"),
    ("timestamp,value\n1714521600000,2\n", {}, r"line 2, column 'timestamp': epoch seconds .*milliseconds"),
    ("timestamp,asset_id,value\n2024-05-01,a,1\n", {"asset_id": "b"}, r"has an asset_id column"),
    ("timestamp,asset_id,value\n2024-05-01,a,1\n", {"fmt": "nab"}, r"exactly the columns timestamp,value"),
    ("timestamp,value\n2024-05-01,1\n", {"fmt": "csv"}, r"unknown format 'csv'"),
    ("timestamp,value,Timestamp\n", {}, r"column 'Timestamp' appears twice"),
    ("timestamp,asset_id,event,operator\n2024-05-01,a,install,bob\n", {"fmt": "events"},
     r"unexpected column\(s\) operator in an events file"),
])
def test_format_errors_name_the_file_and_place(tmp_path: Path, text: str, kwargs: dict[str, str],
                                                expected: str) -> None:
    path = _write(tmp_path, "x.csv", text)
    with pytest.raises(FileFormatError, match=expected):
        list(read_records(path, **kwargs))


def test_detection_from_columns(tmp_path: Path) -> None:
    events = _write(tmp_path, "e.tsv", "timestamp\tasset_id\tevent\toperator\n2024-05-01\ta\tinstall\tbob\n")
    assert list(read_records(events, ignore_columns=["operator"])) == [AssetEvent("a", T0, "install")]
    wide = _write(tmp_path, "unit-3.csv", "Timestamp|vib|temp\n2024-05-01|1|2\n")
    assert [(r.asset_id, r.channel) for r in read_records(wide)] == [("unit-3", "vib"), ("unit-3", "temp")]
    # a scalar table with its own asset_id column (not NAB although it has a value column)
    table = _write(tmp_path, "t.csv", "timestamp,asset_id,value\n2024-05-01,a,1\n")
    assert [r.asset_id for r in read_records(table)] == ["a"]


def test_errors_are_raised_before_the_first_record(tmp_path: Path) -> None:
    path = _write(tmp_path, "late.csv", "timestamp,value\n" + "2024-05-01,1\n" * 100 + "2024-05-01,x\n")
    records = read_records(path)
    with pytest.raises(FileFormatError, match="line 102"):
        next(records)


# --------------------------------------------------------------------------- merge


def test_merge_interleaves_by_time_and_ties_keep_file_order(tmp_path: Path) -> None:
    a = _write(tmp_path, "a.csv", "timestamp,value\n2024-05-01T00:00:00Z,1\n2024-05-01T00:02:00Z,3\n")
    b = _write(tmp_path, "b.csv", "timestamp,value\n2024-05-01T00:01:00Z,2\n2024-05-01T00:02:00Z,4\n")
    merged = list(merge_files([a, b]))
    assert [(r.asset_id, r.value) for r in merged] == [("a", 1), ("b", 2), ("a", 3), ("b", 4)]
    assert [(r.asset_id, r.value) for r in merge_files([b, a])][2:] == [("b", 4), ("a", 3)]
    stats: dict[str, ReadStats] = {}
    assert len(list(merge_files([a, b], stats=stats))) == 4
    assert stats[str(a)].records == 2 and count_records([a, b]) == 4


# --------------------------------------------------------------------------- metadata


METADATA_TOML = """
[defaults]
kind = "bearing_rig"
nominal_speed_hz = 30.0
bearing = { n_elements = 13, ball_diameter_mm = 3.5, pitch_diameter_mm = 25.6 }

[Bearing1_1]

[Bearing2_1]
nominal_speed_hz = 27.5
failure_threshold = { feature = "acc_horizontal_g.rms", value = 20.0 }
"""


def test_metadata_toml_with_defaults(tmp_path: Path) -> None:
    cat = read_metadata(_write(tmp_path, "assets.toml", METADATA_TOML))
    assert isinstance(cat, MetadataCatalog) and sorted(cat) == ["Bearing1_1", "Bearing2_1"]
    femto = BearingGeometry(13, 3.5, 25.6)
    b11, b21 = cat["Bearing1_1"], cat["Bearing2_1"]
    assert (b11.kind, b11.nominal_speed_hz, b11.bearing) == ("bearing_rig", 30.0, femto)
    assert (b21.nominal_speed_hz, b21.bearing, b21.failure_threshold.value) == (27.5, femto, 20.0)
    other = cat.get("Bearing3_1")
    assert other.asset_id == "Bearing3_1" and other.bearing == femto and "Bearing3_1" not in cat
    assert cat.get("Bearing3_1") is other


def test_metadata_json_list_without_defaults(tmp_path: Path) -> None:
    path = _write(tmp_path, "m.json", '[{"asset_id": "p1", "kind": "pump"}, {"asset_id": "p2"}]')
    cat = read_metadata(path)
    assert cat["p1"].kind == "pump" and cat["p2"].kind == "rotating_machine"
    assert cat.get("p3") is None and cat.get("p3", "none") == "none"


@pytest.mark.parametrize(("name", "text", "expected"), [
    ("m.toml", "[p1]\nnominal_speed_hz = -3\n", r"m\.toml: asset metadata 'p1': nominal_speed_hz must be >"),
    ("m.toml", '[p1\n', r"m\.toml: invalid TOML"),
    ("m.json", '{"p1": {}, "p2": {"colour": "red"}}', r"m\.json: asset metadata 'p2': .*colour"),
    ("m.json", '{"p1": {"asset_id": "p9"}}', r"asset 'p1': its asset_id field says 'p9'"),
    ("m.json", '[{"asset_id": "p1"}, {"asset_id": "p1"}]', r"asset 'p1' is listed twice"),
    ("m.json", '{"defaults": {"bearing": {"n_elements": 0}}}', r"m\.json: asset metadata 'defaults'"),
    ("m.json", '{"p1": {}\n,}', r"m\.json line 2: invalid JSON"),
    ("m.yaml", 'p1: {}', r"metadata files are \.toml or \.json"),
])
def test_metadata_errors_name_the_file_and_asset(tmp_path: Path, name: str, text: str, expected: str) -> None:
    with pytest.raises(FileFormatError, match=expected):
        read_metadata(_write(tmp_path, name, text))

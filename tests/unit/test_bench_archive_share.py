"""``bench_archive_share.py`` (round 47, part ARCH47): serializing a snapshot's JSON parts once, and the
``twin_state`` sink with its conversion handed over.

The shared route's Kafka messages and archive texts must be the base route's byte for byte, hostile
values included (they fall back to the base way); the handed-over sinks must write the files the sink
writes (else their rates bound nothing); the repeat shares are counted per asset.
"""

from __future__ import annotations

import math
import pickle
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from benchmarks import bench_archive_share as bench
from flows.codec import encode_json
from flows.dataflow.sinks.archive import write_records
from twin_models.records import InputSpan, Lineage, TwinSnapshot

T0 = datetime(2026, 1, 5, tzinfo=UTC)


def _snapshot(i: int, asset: str = "pump-000", **change: object) -> TwinSnapshot:
    values: dict[str, object] = {
        "asset_id": asset, "timestamp": T0 + timedelta(minutes=i + 1),
        "window_start": T0 + timedelta(minutes=i), "condition": "healthy", "anomaly_score": 0.1 + 0.01 * i,
        "health_index": 1.0 - 0.001 * i, "rul_s": None, "rul_lower_s": None, "rul_upper_s": None,
        "drift": False, "n_windows": i, "life_id": 0,
        "top_features": (("vib.rms", 1.5 + i), ("temperature.mean", -0.25 * i - 0.5)),
        "context": {"speed.mean": 24.0 + 0.1 * i, "load.mean": 0.75}, "evidence": "fine",
        "lineage": Lineage("0.1.0", "abc%d", 0, i, 0, (InputSpan("sim:seed=7", 10 * i, 10 * i + 9),)),
        "data_quality": (("vib", "ok", ""),)}
    values.update(change)
    return TwinSnapshot(**values)  # type: ignore[arg-type]


def _hostile() -> list[TwinSnapshot]:
    """Usual rows and, between them, every kind of value the shared route must not vouch for."""
    odd = [
        {"context": {"speed.mean": 8.78e-05}},  # below 1e-4: json writes e-05, orjson e-5
        {"context": {"a \"quoted\", key: x": 1.0}},  # a key that json escapes and has separators
        {"context": {"n": 3}},  # an int
        {"context": {"x": math.nan}},
        {"top_features": (("vib.rms", math.inf),)},
        {"top_features": (("name, with: separators", 1.0),)},
        {"top_features": ()},
        {"lineage": None},
        {"lineage": Lineage("0.1.0", "h", 0, 1, 0, (InputSpan("s1", 1, 2), InputSpan("s2", 3, 4)))},
        {"lineage": Lineage("0.1.0", "h", 0, 1, 0, (InputSpan("caf\u00e9", 1, 2),))},  # non-ASCII
        {"evidence": "caf\u00e9"},
        {"context": {"speed.mean": 1e16}},
    ]
    return [r for i, change in enumerate(odd) for r in (_snapshot(2 * i), _snapshot(2 * i + 1, **change))]


def test_the_shared_route_writes_the_base_routes_messages_and_archive_texts_on_hostile_values() -> None:
    recs = _hostile()
    messages, kept = bench.shared_parts(recs)
    base_messages, base_texts = bench.base_route(recs)
    assert messages == base_messages == [encode_json(r) for r in recs]
    assert bench.shared_texts(recs, kept) == base_texts
    usual = [p is not None for p in kept[0::2]]
    assert all(usual)  # the plain rows are made once ...
    # ... the odd ones the base way where the message needs it: the floats out of the fast range, the int,
    # the None lineage, the non-ASCII evidence (a key to escape, two spans, a non-ASCII source are made once)
    assert {i for i, p in enumerate(kept[1::2]) if p is None} == {0, 2, 3, 4, 7, 10, 11}


def test_a_flush_with_a_key_to_escape_is_written_the_base_way_in_the_archive() -> None:
    recs = [_snapshot(0), _snapshot(1, context={"k,ey": 1.0})]
    messages, kept = bench.shared_parts(recs)
    assert messages == bench.base_route(recs)[0]
    assert kept[1] is not None  # the message vouched for it (orjson escapes as json) ...
    assert bench.shared_texts(recs, kept) == bench.base_route(recs)[1]  # ... the archive's text did not


def test_serialize_once_reports_both_routes_identical_and_where_the_cost_went() -> None:
    out = bench.serialize_once([[_snapshot(i, f"pump-00{i % 3}") for i in range(30)]], rounds=2)
    assert out["identical"] is True and out["vouched"] == 1.0 and out["snapshots"] == 30
    for route in ("base", "shared"):
        assert out[route]["both_us"] > 0 and out[route]["kafka_us"] > 0


@pytest.mark.parametrize("what", ["texts", "arrays"])
def test_the_sink_with_its_conversion_handed_over_writes_the_sinks_files(tmp_path: Path, what: str) -> None:
    flushes = [[_snapshot(i, f"pump-00{i % 3}") for i in range(40)],
               [_snapshot(i, f"pump-00{i % 2}") for i in range(1440 - 30, 1440 + 30)]]  # two dates
    from flows.codec.record_fields import TWIN_SNAPSHOT
    from flows.dataflow.sinks import archive_pending

    before = TWIN_SNAPSHOT._many, archive_pending._chunk
    for i, flush in enumerate(flushes):
        write_records(tmp_path / "sink", "twin_state", flush, f"p{i}", "bench")
    with bench.handed(flushes, what):
        assert (TWIN_SNAPSHOT._many, archive_pending._chunk) != before  # something is handed over
        for i, flush in enumerate(flushes):
            write_records(tmp_path / what, "twin_state", flush, f"p{i}", "bench")
    files = sorted(p.relative_to(tmp_path / "sink") for p in (tmp_path / "sink").rglob("*.parquet"))
    assert len(files) == 3
    assert files == sorted(p.relative_to(tmp_path / what) for p in (tmp_path / what).rglob("*.parquet"))
    for f in files:
        a, b = pq.read_table(tmp_path / "sink" / f), pq.read_table(tmp_path / what / f)
        drop = ["_written_at", "_write_seq"]
        assert a.drop(drop).equals(b.drop(drop))
    assert (TWIN_SNAPSHOT._many, archive_pending._chunk) == before  # and given back


def test_repeats_count_each_assets_previous_value() -> None:
    same = {"speed.mean": 1.0}
    recs = [_snapshot(0, "a", context=same), _snapshot(0, "b", context={"speed.mean": 2.0}),
            _snapshot(1, "a", context=dict(same)), _snapshot(1, "b", context={"speed.mean": 3.0}),
            _snapshot(2, "a", context={"speed.mean": 2.0})]
    out = bench.repeats([recs[:2], recs[2:]])
    assert out["context"]["same_as_previous"] == pytest.approx(1 / 5, abs=1e-4)  # a's second row only
    assert out["context"]["distinct"] == pytest.approx((2 + 3) / 5, abs=1e-4)  # per flush: 2, then 3
    assert out["data_quality"]["same_as_previous"] == pytest.approx(3 / 5, abs=1e-4)


def test_main_prints_the_three_parts_and_refuses_records_without_twin_state(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = tmp_path / "records.pkl"
    records.write_bytes(pickle.dumps({"twin_state": [[_snapshot(i, f"pump-00{i % 2}") for i in range(50)]]}))
    out = bench.main(["--records", str(records), "--rounds", "1"])
    assert out["serialize_once"]["identical"] is True
    assert set(out["bounds"]) >= {"sink", "texts_given", "arrays_given"}
    assert capsys.readouterr().out.splitlines()[-1].startswith('{"benchmark": "archive_share"')
    none = tmp_path / "none.pkl"
    none.write_bytes(pickle.dumps({"alerts": []}))
    with pytest.raises(SystemExit) as exit_:
        bench.main(["--records", str(none)])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.parametrize("rows", [[1, 2, 3], "abc", [None]])
def test_records_of_other_rows_are_one_line_and_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], rows: object) -> None:
    """Round 48 (HOSTILE48): a ``--records`` file whose ``twin_state`` held other rows (not ``TwinSnapshot``
    s: another pickle, another table's flushes) was an AttributeError traceback in the first part."""
    records = tmp_path / "other.pkl"
    records.write_bytes(pickle.dumps({"twin_state": [rows, [_snapshot(0)]]}))
    with pytest.raises(SystemExit) as exit_:
        bench.main(["--records", str(records), "--rounds", "1"])
    assert exit_.value.code == 2
    first = type(next(iter(rows))).__name__  # type: ignore[call-overload]
    assert capsys.readouterr().err == (
        f"bench_archive_share: --records {records}: its twin_state rows are not twin snapshots "
        f"({len(rows)} of them, the first a {first!r}); give the file bench_archive_tables.py "  # type: ignore[arg-type]
        "--save-records wrote\n")

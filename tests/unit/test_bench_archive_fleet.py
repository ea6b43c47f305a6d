"""``bench_archive_tables.py --fleet``: twin_state at a production shape (round 43, part ARCH43).

A day of a fleet's one-minute rows made of the demo's rows: new asset ids and times, the texts as
the demo wrote them, the numbers distinct (or copied), cut into the sink's flushes.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from benchmarks import bench_archive_tables as bench
from flows.dataflow.sinks.archive_columns import date_groups
from twin_models.records import InputSpan, Lineage, TwinSnapshot

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _demo(n: int = 7) -> list[TwinSnapshot]:
    """``n`` demo-like rows of two assets, each with its own numbers and texts."""
    return [TwinSnapshot(asset_id=f"pump-00{i % 2}", timestamp=T0 + timedelta(hours=i + 1),
                         window_start=T0 + timedelta(hours=i), condition="healthy", anomaly_score=0.1 * i,
                         health_index=1.0 - 0.01 * i, rul_s=None if i % 3 else 3600.0 * i, rul_lower_s=None,
                         rul_upper_s=None, drift=False, n_windows=i, life_id=0,
                         top_features=(("x.mean", 1.5 + i),),
                         context={"speed.mean": 24.0 + i}, evidence=f"row {i}",
                         lineage=Lineage("0.1.0", "abc", 0, i, 0, (InputSpan("sim:seed=7", i, i + 1),)))
            for i in range(n)]


def test_a_fleet_day_is_every_asset_each_minute_of_one_date_with_the_demo_rows_texts() -> None:
    demo = _demo()
    day = bench.fleet_day(demo, 3, minutes=5)
    assert len(day) == 15
    # arrival order: minute by minute, the fleet's assets in turn
    assert [(r.asset_id, r.window_start) for r in day] == [
        (f"asset-{k:03d}", bench.FLEET_DAY + timedelta(minutes=m)) for m in range(5) for k in range(3)]
    assert all(r.timestamp - r.window_start == timedelta(minutes=1) for r in day)
    assert list(date_groups("twin_state", day)) == ["2026-01-05"]  # one date: the day's files only
    for i, r in enumerate(day):
        m, k = divmod(i, 3)
        src = demo[(k * 5 + m) % len(demo)]
        assert (r.context, r.top_features, r.lineage, r.evidence, r.n_windows, r.rul_s is None) == (
            src.context, src.top_features, src.lineage, src.evidence, src.n_windows, src.rul_s is None)
        assert r.health_index == pytest.approx(src.health_index, rel=1e-6)
    # no two rows' numbers repeat, where the demo's 7 rows repeat over 15
    assert len({r.health_index for r in day}) == 15


def test_copies_keep_the_demo_rows_numbers() -> None:
    demo = _demo()
    day = bench.fleet_day(demo, 3, distinct=False, minutes=5)
    assert {r.health_index for r in day} == {r.health_index for r in demo}
    assert [r.anomaly_score for r in day[:3]] == [demo[j].anomaly_score for j in (0, 5, 3)]


def test_the_flushes_are_the_day_in_order_by_the_size_given() -> None:
    rows = list(range(45))
    assert bench.cut(rows, 20) == [rows[:20], rows[20:40], rows[40:]]
    assert bench.cut(rows, 45) == [rows]
    assert bench.default_batch_rows() == 20000


def test_the_fleet_bench_times_the_day_and_reports_both_ratios(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = tmp_path / "records.pkl"
    records.write_bytes(pickle.dumps({"twin_state": [_demo(5), _demo(4)]}))
    out = bench.main(["--records", str(records), "--fleet", "4", "--batch-rows", "1000,3000",
                      "--rounds", "1"])
    assert out["fleet"] == 4
    fig = out["tables"]
    assert sorted(fig) == ["twin_state@1000", "twin_state@3000"]
    assert [fig[k]["rows"] for k in sorted(fig)] == [5760, 5760]
    assert [fig[k]["flushes"] for k in sorted(fig)] == [6, 2]
    assert [fig[k]["files"] for k in sorted(fig)] == [6, 2]
    assert all(f["rate"] > 0 and f["wall_rate"] > 0 for f in fig.values())
    assert "twin_state@3000: 5760 rows, 2 files" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "says"), [
    (["--batch-rows", "100"], "--batch-rows needs --fleet"),
    (["--fleet", "2", "--batch-rows", "100,x"], "is not a list of positive integers"),
    (["--fleet", "2", "--batch-rows", "0"], "is not a list of positive integers"),
    (["--fleet", "-1"], "--fleet >= 0"),
    (["--rounds", "0"], "--rounds must be >= 1"),
])
def test_a_bad_argument_is_one_line_and_exit_2(
        argv: list[str], says: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        bench.main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1


def test_records_without_twin_state_or_unreadable_are_one_line_and_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    none = tmp_path / "alerts.pkl"
    none.write_bytes(pickle.dumps({"alerts": [[]]}))
    junk = tmp_path / "junk.pkl"
    junk.write_bytes(b"not a pickle")
    for path, says in ((none, "hold no twin_state rows"), (junk, "cannot read --records"),
                       (tmp_path / "missing.pkl", "cannot read --records")):
        with pytest.raises(SystemExit) as exit_:
            bench.main(["--records", str(path), "--fleet", "2"])
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert says in err and len(err.strip().splitlines()) == 1


def test_a_table_not_in_the_records_an_unwritable_save_or_records_of_another_shape_are_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Round 44: each was a traceback (KeyError; FileNotFoundError after the whole demo had run;
    TypeError/AttributeError from a pickle that is not the flushes --save-records writes)."""
    good = tmp_path / "good.pkl"
    good.write_bytes(pickle.dumps({"twin_state": [_demo(2)], "alerts": [[]]}))
    other = tmp_path / "list.pkl"
    other.write_bytes(pickle.dumps([1, 2]))
    rows = tmp_path / "rows.pkl"
    rows.write_bytes(pickle.dumps({"twin_state": [[{"asset_id": "a"}]]}))
    for argv, says in (
            (["--records", str(good), "--tables", "twin_state,nosuch"],
             "--tables: no 'nosuch' in the records (they hold alerts, twin_state)"),
            (["--records", str(good), "--save-records", str(tmp_path / "no" / "x.pkl")],
             f"cannot write --save-records {tmp_path / 'no' / 'x.pkl'}"),
            (["--records", str(other)], "is not the flushes --save-records writes"),
            (["--records", str(other), "--fleet", "2"], "is not the flushes --save-records writes"),
            (["--records", str(rows), "--fleet", "2"], "is not the flushes --save-records writes")):
        with pytest.raises(SystemExit) as exit_:
            bench.main(argv)
        assert exit_.value.code == 2, argv
        err = capsys.readouterr().err
        assert says in err and len(err.strip().splitlines()) == 1, err


def test_records_of_other_objects_an_empty_table_or_a_folder_to_save_to_are_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Round 45: round 44's shape check let lists of anything through (an alerts flush of ints:
    AttributeError 'int' object has no attribute 'timestamp'), a table with no rows divided by zero
    (ZeroDivisionError), and --save-records naming a folder was found only after the whole demo."""
    ints = tmp_path / "ints.pkl"
    ints.write_bytes(pickle.dumps({"alerts": [[1, 2]]}))
    swapped = tmp_path / "swapped.pkl"
    swapped.write_bytes(pickle.dumps({"alerts": [_demo(2)]}))  # twin snapshots as alerts
    unknown = tmp_path / "unknown.pkl"
    unknown.write_bytes(pickle.dumps({"nosuch": [_demo(2)]}))
    empty = tmp_path / "empty.pkl"
    empty.write_bytes(pickle.dumps({"twin_state": [_demo(2)], "alerts": [[], []]}))
    for argv, says in (
            (["--records", str(ints)], "is not the flushes --save-records writes"),
            (["--records", str(swapped)], "is not the flushes --save-records writes"),
            (["--records", str(unknown)], "is not the flushes --save-records writes"),
            (["--records", str(empty)], "--records: no 'alerts' rows to time"),
            (["--save-records", str(tmp_path)], f"cannot write --save-records {tmp_path}: a folder")):
        with pytest.raises(SystemExit) as exit_:
            bench.main(argv)
        assert exit_.value.code == 2, argv
        err = capsys.readouterr().err
        assert says in err and len(err.strip().splitlines()) == 1, err


@contextlib.contextmanager
def _fifo_opened_meanwhile(fifo: Path) -> Iterator[None]:
    """Open and close ``fifo``'s other end every 0.2 s while the block runs: a regression that opens it
    gets an empty stream or a broken pipe, and its test fails instead of hanging the suite."""
    done = threading.Event()

    def other_end() -> None:
        while not done.wait(0.2):
            for flags in (os.O_WRONLY | os.O_NONBLOCK, os.O_RDONLY | os.O_NONBLOCK):
                with contextlib.suppress(OSError):  # ENXIO: nobody has it open for reading
                    os.close(os.open(fifo, flags))

    threading.Thread(target=other_end, daemon=True).start()
    try:
        yield
    finally:
        done.set()


def test_records_that_unpickle_into_an_error_or_are_no_file_are_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Round 46 (HOSTILE46): only UnpicklingError/EOFError/OSError were caught: a pickle of a newer
    protocol (ValueError) or of records whose module an older tree had (ModuleNotFoundError) was a
    traceback, and a FIFO given as --records waited for a writer for ever (as --save-records, for a
    reader, once the demo had run)."""
    newer = tmp_path / "newer.pkl"
    newer.write_bytes(b"\x80\x63rest")  # protocol 99
    gone = tmp_path / "gone.pkl"
    gone.write_bytes(b"\x80\x04\x8c\x0bno_such_mod\x94\x8c\x01X\x94\x93\x94.")  # no_such_mod.X
    good = tmp_path / "good.pkl"
    good.write_bytes(pickle.dumps({"twin_state": [_demo(2)]}))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with _fifo_opened_meanwhile(fifo):
        for argv, says in (
                (["--records", str(newer)],
                 f"read --records {newer}: ValueError: unsupported pickle protocol: 99"),
                (["--records", str(gone)],
                 f"read --records {gone}: ModuleNotFoundError: No module named 'no_such_mod'"),
                (["--records", str(fifo)], f"read --records {fifo}: not a file"),
                (["--records", str(good), "--save-records", str(fifo)],
                 f"write --save-records {fifo}: not a file")):
            with pytest.raises(SystemExit) as exit_:
                bench.main(argv)
            assert exit_.value.code == 2, argv
            err = capsys.readouterr().err
            assert err == f"bench_archive_tables: cannot {says}\n", err

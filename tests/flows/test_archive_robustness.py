"""Unreadable or foreign archive files, `twin archive check`, newest-write dedup, run ids, --fresh."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.app.backtest import BACKTEST_OUTPUTS
from flows.app.out_dir import earlier_runs, kept_outputs, missing_top, prepare_out, remove_if_empty
from flows.archive.query import ArchiveError, query
from flows.cli.main import main
from flows.dataflow.sinks.archive import write_rows
from tests.flows.archive_fixtures import T0, feature_rows, small_archive

RUN = "20260101T000000-aaaaaaaa"


def _valid_file(archive: Path) -> Path:
    return next((archive / "features").rglob("*.parquet"))


def _zero_byte(archive: Path) -> Path:
    p = _valid_file(archive).parent / "zero.parquet"
    p.write_bytes(b"")
    return p


def _truncated(archive: Path) -> Path:
    src = _valid_file(archive)
    p = src.parent / "truncated.parquet"
    p.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    return p


def _csv(archive: Path) -> Path:
    p = _valid_file(archive).parent / "table.parquet"
    p.write_text("window_start,vib.rms\n2026-01-01,1.0\n")
    return p


def _incompatible(archive: Path) -> Path:
    p = _valid_file(archive).parent / "strings.parquet"
    pq.write_table(pa.table({"window_start": ["yesterday"], "vib.rms": ["high"]}), p)
    return p


def _foreign_schema(archive: Path) -> Path:
    p = _valid_file(archive).parent / "other.parquet"
    pq.write_table(pa.table({"x": [1, 2]}), p)
    return p


def _outside_partitions(archive: Path) -> Path:
    p = archive / "features" / "loose.parquet"
    shutil.copy(_valid_file(archive), p)
    return p


def _write_seq_as_float(archive: Path) -> Path:
    """A file like the writer's but its ``_write_seq`` a float: every query of the table failed (round 43)."""
    src = next(f for f in sorted((archive / "features").rglob("part-*.parquet")))  # the writer's own
    table = pq.read_table(src)
    i = table.schema.get_field_index("_write_seq")
    p = src.parent / "float-seq.parquet"
    pq.write_table(table.set_column(i, "_write_seq", table["_write_seq"].cast(pa.float64(), safe=False)), p)
    return p


def _unsigned_past_int64(archive: Path) -> Path:
    """A file like the writer's but one integer column ``uint64`` holding a value past int64's range:
    united with the other files' int64, every query reading the column failed (round 44)."""
    src = next(f for f in sorted((archive / "features").rglob("part-*.parquet")))
    table = pq.read_table(src)
    i = table.schema.get_field_index("_write_seq")
    p = src.parent / "unsigned-seq.parquet"
    pq.write_table(table.set_column(i, "_write_seq", pa.array([2**64 - 1] * len(table), pa.uint64())), p)
    return p


BAD = {"zero_byte": _zero_byte, "truncated": _truncated, "csv_named_parquet": _csv,
       "incompatible_schema": _incompatible, "foreign_schema": _foreign_schema,
       "outside_partitions": _outside_partitions, "write_seq_as_float": _write_seq_as_float,
       "unsigned_past_int64": _unsigned_past_int64}


@pytest.mark.parametrize("kind", list(BAD))
def test_queries_skip_a_bad_file_with_one_warning(tmp_path: Path, kind: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    archive = small_archive(tmp_path / "a")
    bad = BAD[kind](archive)
    assert main(["sql", "SELECT count(*) AS n, sum(\"vib.rms\") AS s FROM features",
                 "--archive", str(archive), "--format", "csv"]) == 0
    out = capsys.readouterr()
    assert out.out.splitlines() == ["n,s", "6,9.0"]
    assert out.err.count("\n") == 1 and out.err.startswith("twin: warning: skipped 1 unreadable")
    assert str(bad.relative_to(archive)) in out.err
    assert main(["sql", "SELECT count(*) FROM alerts", "--archive", str(archive)]) == 0
    assert capsys.readouterr().err == ""  # alerts' views do not read the features' files


def test_archive_check_lists_then_repair_quarantines(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    archive = small_archive(tmp_path / "a")
    assert main(["archive", "check", "--archive", str(archive)]) == 0
    assert "every file is readable" in capsys.readouterr().out
    bad = [make(archive) for make in BAD.values()]
    (archive / "alerts" / "notes.txt").write_text("hello")
    content = {p: p.read_bytes() for p in bad}
    assert main(["archive", "check", "--archive", str(archive)]) == 1
    out = capsys.readouterr().out
    assert all(str(p.relative_to(archive)) in out for p in bad) and "alerts/notes.txt" in out
    assert f"{len(bad) + 1} unreadable or foreign files" in out
    assert all(p.exists() for p in bad)  # listing moves nothing
    assert main(["archive", "check", "--archive", str(archive), "--repair"]) == 0
    out = capsys.readouterr().out
    assert sum(line.startswith("moved ") for line in out.splitlines()) == len(bad) + 1
    for p, data in content.items():
        moved = archive / "_quarantine" / p.relative_to(archive)
        assert not p.exists() and moved.read_bytes() == data
    assert main(["archive", "check", "--archive", str(archive)]) == 0
    capsys.readouterr()
    assert query(archive, "SELECT count(*) FROM features")[1] == [(6,)]
    assert capsys.readouterr().err == ""


def test_a_table_whose_files_are_all_bad_does_not_break_the_others(tmp_path: Path) -> None:
    archive = small_archive(tmp_path / "a")
    for p in (archive / "alerts").rglob("*.parquet"):
        p.write_bytes(b"PAR1 broken")
    skipped: list[object] = []
    assert query(archive, "SELECT count(*) FROM features", on_skip=skipped.extend)[1] == [(6,)]
    assert skipped == []  # a features-only query reads no alerts file
    with pytest.raises(ArchiveError, match="alerts"):
        query(archive, "SELECT count(*) FROM alerts", on_skip=skipped.extend)
    assert len(skipped) == 1


def test_newest_write_wins_not_the_larger_path(tmp_path: Path) -> None:
    archive = tmp_path / "a"
    # the older write gets the lexicographically LARGER name (as a run id from a skewed clock,
    # or a custom id, would): the view must still show the newer write
    write_rows(archive, "features", feature_rows(rms=1.0), "part-zzzz-old-w9-999999", "old")
    write_rows(archive, "features", feature_rows(rms=2.0), "part-aaaa-new-w0-000000", "new")
    rows = query(archive, 'SELECT DISTINCT run_id, "vib.rms" FROM features WHERE window_start = ?'
                 .replace("?", f"TIMESTAMPTZ '{T0.isoformat()}'"))[1]
    assert rows == [("new", 2.0)]


def test_old_archives_without_write_seq_fall_back_to_file_order(tmp_path: Path) -> None:
    archive = tmp_path / "a"
    folder = archive / "features" / "date=2026-01-01" / "asset_id=pump-000"
    folder.mkdir(parents=True)
    body = {"window_start": [T0], "window_end": [T0], "n_records": [1], "events": [""]}
    pq.write_table(pa.table({**body, "vib.rms": [1.0]}), folder / "part-20260101T000000-a-w0-000000.parquet")
    pq.write_table(pa.table({**body, "vib.rms": [2.0]}), folder / "part-20260102T000000-b-w0-000000.parquet")
    assert query(archive, 'SELECT "vib.rms", run_id FROM features')[1] == [(2.0, None)]
    # a new write beats every legacy file, whatever their names
    write_rows(archive, "features", [{"asset_id": "pump-000", "date": "2026-01-01", **{
        k: v[0] for k, v in body.items()}, "vib.rms": 3.0}], "part-0-w0-000000", "r3")
    assert query(archive, 'SELECT "vib.rms", run_id FROM features')[1] == [(3.0, "r3")]


def test_rows_carry_their_run_id(tmp_path: Path) -> None:
    archive = small_archive(tmp_path / "a", run_id=RUN)
    assert query(archive, "SELECT DISTINCT run_id FROM features")[1] == [(RUN,)]
    assert query(archive, "SELECT DISTINCT run_id FROM alerts")[1] == [(RUN,)]
    assert query(archive, "SELECT count(*) FROM features WHERE _written_at IS NOT NULL")[1] == [(6,)]
    assert earlier_runs(archive) == {RUN}


def test_out_folder_with_another_run_warns_and_fresh_empties_it(tmp_path: Path) -> None:
    out = tmp_path / "bt"
    archive = small_archive(out / "archive", run_id=RUN)
    small_archive(out / "archive", run_id="20260102T000000-bbbbbbbb")
    for name in ("scores.parquet", "alerts.parquet", "dead_letters.jsonl", "dead_letters-w1.jsonl",
                 "report.html", "figures/pump-000.png", "mine.txt", "figures/mine.txt"):
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text("x")
    said: list[str] = []
    prepare_out(out, archive, BACKTEST_OUTPUTS, warn=said.append)
    assert len(said) == 1 and said[0].startswith(f"twin: warning: {out} holds data of 2 earlier runs (")
    assert said[0].endswith("use --fresh to start empty, or another --out to keep runs apart")
    prepare_out(out, archive, BACKTEST_OUTPUTS, fresh=True)
    left = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert left == ["figures/mine.txt", "mine.txt"]  # unknown files stay
    said.clear()
    prepare_out(out, archive, BACKTEST_OUTPUTS, warn=said.append)
    assert said == []


def test_a_stopped_run_names_its_own_files_and_an_earlier_run_s(tmp_path: Path) -> None:
    """What a backtest stopped mid-way says it kept: only its own archive files are counted (not
    an earlier run's in the same folder), and an output it did not write but an earlier run did
    is named as that run's (it is not this run's result)."""
    out = tmp_path / "bt"
    small_archive(out / "archive", run_id="20260102T000000-bbbbbbbb")
    n_earlier = len(list((out / "archive").rglob("*.parquet")))
    small_archive(out / "archive", run_id=RUN)
    ours = len(list((out / "archive").rglob("*.parquet"))) - n_earlier
    (out / "dead_letters.jsonl").write_text("")
    (out / "alerts.parquet").write_text("x")
    line = kept_outputs(out, out / "archive", RUN, ["scores.parquet"], ("scores.parquet", "alerts.parquet"),
                        logs=("dead_letters.jsonl",))
    assert line == (f"--out {out} keeps archive/ ({ours} files of this run, each complete), "
                    "dead_letters.jsonl (this run's, complete lines so far), scores.parquet; "
                    "not written: alerts.parquet (alerts.parquet in it is an earlier run's)")


def test_only_a_folder_made_by_the_command_and_holding_no_file_is_removed(tmp_path: Path) -> None:
    assert missing_top(tmp_path) is None
    made = missing_top(tmp_path / "a" / "b" / "c")
    assert made == tmp_path / "a"
    (tmp_path / "a" / "b" / "c" / "archive").mkdir(parents=True)
    (tmp_path / "a" / "b" / "x.txt").write_text("x")
    assert not remove_if_empty(made) and (tmp_path / "a" / "b" / "x.txt").exists()
    (tmp_path / "a" / "b" / "x.txt").unlink()
    assert remove_if_empty(made) and not made.exists()


def test_fresh_refuses_and_deletes_nothing_if_a_table_holds_foreign_files(tmp_path: Path) -> None:
    archive = small_archive(tmp_path / "a")
    stray = archive / "features" / "analysis.parquet"
    pq.write_table(pa.table({"x": [1]}), stray)
    before = sorted(archive.rglob("*"))
    with pytest.raises(ValueError, match="--fresh refused: .*analysis.parquet was not written by twinflow"):
        prepare_out(archive, archive, ("dead_letters*.jsonl",), fresh=True)
    assert sorted(archive.rglob("*")) == before


def test_demo_warns_about_mixed_runs_and_fresh_starts_empty(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    argv = ["demo", "--assets", "1", "--days", "1", "--out", str(out), "--no-progress", "--json"]
    assert main(argv) == 0
    assert "earlier run" not in capsys.readouterr().err
    runs = {r for t in ("features", "twin_state", "alerts") if (out / t).is_dir()
            for (r,) in query(out, f"SELECT DISTINCT run_id FROM {t}")[1]}
    assert len(runs) == 1  # one id for every table of a run
    assert main([*argv[:1], "--seed", "3", *argv[1:]]) == 0
    assert "holds data of 1 earlier run (" in capsys.readouterr().err
    assert len(query(out, "SELECT DISTINCT run_id FROM twin_state")[1]) == 2
    assert main([*argv, "--fresh"]) == 0
    assert "earlier run" not in capsys.readouterr().err
    assert len(query(out, "SELECT DISTINCT run_id FROM twin_state")[1]) == 1
    assert len(earlier_runs(out)) == 1


def test_a_compacted_archive_is_twinflows_for_fresh_and_its_runs_are_counted(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """After `twin archive compact`, `--fresh` refused the archive ("part-compact-... was not written
    by twinflow") and `earlier_runs` (cmapss.py's refusal of an --out with earlier outputs) saw no run."""
    out = tmp_path / "demo"
    argv = ["demo", "--assets", "1", "--days", "1", "--out", str(out), "--no-progress", "--json"]
    assert main(argv) == 0
    assert main([*argv[:1], "--seed", "3", *argv[1:]]) == 0
    runs = earlier_runs(out)
    assert len(runs) == 2
    assert main(["archive", "compact", "--archive", str(out), "--before", "2099-01-01"]) == 0
    compacted = sorted(out.rglob("part-compact-*.parquet"))
    assert compacted
    assert earlier_runs(out) == runs
    only = tmp_path / "only-compacted"  # the compacted files alone: their run_id column names the runs
    for p in compacted:
        (only / p.relative_to(out)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(p, only / p.relative_to(out))
    assert earlier_runs(only) == runs
    capsys.readouterr()
    assert main([*argv, "--fresh"]) == 0
    assert "refused" not in capsys.readouterr().err
    assert not any(p.exists() for p in compacted)
    assert len(earlier_runs(out)) == 1 and earlier_runs(out).isdisjoint(runs)


def test_fresh_lists_each_table_folder_once_and_removes_those_it_emptied(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Round 36: after deleting the files, ``--fresh`` walked the table folders again (``os.walk``:
    every folder listed twice) to find those left empty; the one walk's folders are removed now,
    deepest first. Every table folder and date folder goes; the output folder and a user's file stay."""
    import os

    out = tmp_path / "bt"
    archive = small_archive(out / "archive", run_id=RUN)
    small_archive(archive, run_id="20260102T000000-bbbbbbbb")
    (archive / "features" / "date=2026-01-05").mkdir()  # an empty date folder goes too
    (out / "mine.txt").write_text("x")
    listed: list[str] = []
    scandir = os.scandir

    def counted(path: Any = ".") -> Any:
        listed.append(os.fspath(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", counted)
    prepare_out(out, archive, BACKTEST_OUTPUTS, fresh=True)
    below = [p for p in listed if Path(p).is_relative_to(archive)]
    assert below and len(below) == len(set(below)), sorted(below)  # base: each table folder twice
    assert sorted(p.name for p in out.rglob("*")) == ["archive", "mine.txt"]

"""The warning that an archive already holds other runs' rows (round 31, part LOOSE31): ``twin run``
said nothing, ``twin demo``/``twin backtest`` only "holds data of N earlier runs"; the views'
newest-write-per-key rule then mixed the runs silently. Now one line names the archive, the runs,
how many assets and dates their rows cover, and how to keep runs apart; none on a fresh archive
or on a resume of the same run (its ``--recovery-dir`` holds partitions)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.app import archive_runs
from flows.app.backtest import BACKTEST_OUTPUTS
from flows.app.out_dir import prepare_out
from flows.app.run import RunOptions, archive_warning
from flows.archive.compact import compact_archive
from flows.dataflow.recovery_store import init_store
from flows.dataflow.sinks.archive import write_rows
from tests.flows.archive_fixtures import feature_rows, small_archive

RUN, OTHER = "20260101T000000-aaaaaaaa", "20260102T000000-bbbbbbbb"


def test_twin_run_into_another_run_s_archive_warns_once_naming_runs_assets_and_dates(tmp_path: Path) -> None:
    archive = small_archive(tmp_path / "a", run_id=RUN)
    later = [{**r, "date": "2026-01-03", "asset_id": "pump-009"} for r in feature_rows(assets=1)]
    write_rows(archive, "features", later, f"part-{OTHER}-w0-000000", OTHER)
    line = archive_warning(RunOptions(archive_dir=archive))
    assert line == (f"twin: warning: the archive {archive} holds data of 2 earlier runs ({RUN}, {OTHER}) "
                    "for 3 assets over 2 dates (2026-01-01..2026-01-03); results will be mixed (the views "
                    "keep the newest write of each asset and window, whichever run wrote it): give each "
                    "run its own --archive (archive_dir) to keep runs apart")
    # a fresh store (the run's first start) warns too; one cluster says it in process 0 only
    assert archive_warning(RunOptions(archive_dir=archive, recovery_dir=tmp_path / "rec")) == line
    two = ("h:1", "h:2")
    assert archive_warning(RunOptions(archive_dir=archive, addresses=two, process_id=0)) == line
    assert archive_warning(RunOptions(archive_dir=archive, addresses=two, process_id=1)) is None


def test_no_warning_on_a_fresh_archive_or_a_resume(tmp_path: Path) -> None:
    assert archive_warning(RunOptions(archive_dir=tmp_path / "new")) is None
    (tmp_path / "empty" / "features").mkdir(parents=True)
    assert archive_warning(RunOptions(archive_dir=tmp_path / "empty")) is None
    archive = small_archive(tmp_path / "a", run_id=RUN)
    store = tmp_path / "rec"
    init_store(store, 1)  # what the run's first start made: a restart with it resumes that run
    assert archive_warning(RunOptions(archive_dir=archive, recovery_dir=store)) is None


def test_a_compacted_archive_names_the_runs_its_rows_carry(tmp_path: Path) -> None:
    archive = small_archive(tmp_path / "a", run_id=RUN)
    small_archive(archive, run_id=OTHER)
    from datetime import date

    compact_archive(archive, date(2026, 2, 1), "part-compact-x")
    assert not list(archive.rglob(f"part-{RUN}*")), "compacted"
    line = archive_warning(RunOptions(archive_dir=archive))
    assert line is not None
    assert f"2 earlier runs ({RUN}, {OTHER}) for 2 assets over 1 date (2026-01-01)" in line


def test_demo_and_backtest_outputs_name_the_runs_and_what_they_cover(tmp_path: Path) -> None:
    out = tmp_path / "bt"
    small_archive(out / "archive", run_id=RUN)
    said: list[str] = []
    prepare_out(out, out / "archive", BACKTEST_OUTPUTS, warn=said.append)
    assert said == [f"twin: warning: {out} holds data of 1 earlier run ({RUN}) for 2 assets over 1 date "
                    "(2026-01-01); results will be mixed (the views keep the newest write of each asset and "
                    "window, whichever run wrote it): use --fresh to start empty, or another --out to keep "
                    "runs apart"]


def test_the_assets_are_read_from_the_newest_files_only_beyond_the_cap(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A live run writes a features file per flush: a year is tens of thousands (~1.4 ms each, read
    before the run starts). Beyond ASSET_FILES_MAX files, the newest dates' are read and the line
    says "at least"; runs and dates still come from every file's name."""
    archive = small_archive(tmp_path / "a", run_id=RUN)  # 2026-01-01
    later = [{**r, "date": "2026-01-03", "asset_id": "pump-009"} for r in feature_rows(assets=1)]
    write_rows(archive, "features", later, f"part-{OTHER}-w0-000000", OTHER)
    monkeypatch.setattr(archive_runs, "ASSET_FILES_MAX", 1)
    line = archive_warning(RunOptions(archive_dir=archive))
    assert line is not None
    assert f"({RUN}, {OTHER}) for at least 1 asset over 2 dates (2026-01-01..2026-01-03)" in line
    monkeypatch.setattr(archive_runs, "ASSET_FILES_MAX", 1000)
    assert "for 3 assets over 2 dates" in (archive_warning(RunOptions(archive_dir=archive)) or "")


@pytest.mark.parametrize("foreign", [pa.array([7, 8], pa.int64()), pa.array([["x"], ["y"]]),
                                     pa.array([{"a": 1}, {"a": 2}])], ids=["int", "list", "struct"])
def test_a_foreign_file_s_run_id_or_asset_id_that_is_not_text_is_left_out(
        tmp_path: Path, foreign: pa.Array) -> None:
    """A compacted file (by name) whose ``run_id``, or a features file whose ``asset_id``, is not
    text (round 32, HOSTILE32): a number among the run ids stopped the run on the line's sort
    (TypeError), a list or struct on ``unique`` (ArrowNotImplementedError), before the run began."""
    archive = small_archive(tmp_path / "a", run_id=RUN)
    folder = archive / "features" / "date=2026-01-01"
    pq.write_table(pa.table({"run_id": foreign}), folder / "part-compact-foreign.parquet")
    pq.write_table(pa.table({"asset_id": foreign}), folder / f"part-{OTHER}-w0-000000.parquet")
    line = archive_warning(RunOptions(archive_dir=archive))
    assert line is not None
    assert f"2 earlier runs ({RUN}, {OTHER}) for 2 assets over 1 date (2026-01-01)" in line


def test_a_symbolic_link_in_a_table_folder_is_neither_read_nor_named(tmp_path: Path) -> None:
    """Round 32 (HOSTILE32): the views never follow a link in a table folder; the warning read the
    file it points to (outside the archive) and named its run and assets as the archive's."""
    archive = small_archive(tmp_path / "a", run_id=RUN)
    outside = small_archive(tmp_path / "elsewhere", run_id=OTHER)
    (target,) = (outside / "features").rglob("*.parquet")
    (archive / "features" / "date=2026-01-01" / f"part-{OTHER}-w0-000009.parquet").symlink_to(target)
    line = archive_warning(RunOptions(archive_dir=archive))
    assert line is not None
    assert f"1 earlier run ({RUN}) for 2 assets over 1 date" in line


def test_the_runs_of_the_warning_and_of_a_refusal_come_from_one_classification(tmp_path: Path) -> None:
    """Round 32 (LOOSE32): ``earlier_rows`` (the warning) and ``out_dir.earlier_runs`` (cmapss.py's
    refusal) each classified the file names; now :func:`archive_runs.files_by_name` does, once. A
    part that never completed names a run for the refusal (a stopped run's output) but no rows."""
    from flows.app.out_dir import _PART, _table_files, earlier_runs

    archive = small_archive(tmp_path / "a", run_id=RUN)
    folder = next((archive / "features").rglob("*.parquet")).parent
    (folder / f".part-{OTHER}-w0-000001.parquet.tmp").write_bytes(b"half")
    (folder / "notes.parquet").write_bytes(b"not ours")
    named = archive_runs.files_by_name(_table_files(archive), _PART)
    assert (named.named_runs, named.unfinished_runs, named.compacted) == ({RUN}, {OTHER}, [])
    assert [p.name for p in named.files] == [f"part-{RUN}-w0-000000.parquet"] * 2  # alerts, features
    assert earlier_runs(archive) == {RUN, OTHER}
    assert archive_runs.earlier_rows(archive, _table_files(archive), _PART).runs == {RUN}


def test_a_rerun_check_then_the_warning_read_each_compacted_file_s_runs_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Round 36: a demo into a compacted archive whose manifest records runs of another identity
    checked the runs for the note (each compacted file's ``run_id`` column read), then the warning
    read every one of those columns again. Read once now, and the line is the same."""
    from datetime import date

    from flows.app.out_manifest import Manifest

    archive = small_archive(tmp_path / "a", run_id=RUN)
    small_archive(archive, run_id=OTHER)
    compact_archive(archive, date(2026, 2, 1), "part-compact-x")
    Manifest.read(archive).record_run(RUN, "another identity")
    reads: list[Path] = []
    values = archive_runs._values

    def counted(path: Path, column: str) -> list[str]:
        if column == "run_id":
            reads.append(path)
        return values(path, column)

    monkeypatch.setattr(archive_runs, "_values", counted)
    said: list[str] = []
    prepare_out(archive, archive, warn=said.append, identity="this identity")
    assert len(said) == 1 and f"2 earlier runs ({RUN}, {OTHER}) for 2 assets over 1 date" in said[0], said
    compacted = sorted(archive.rglob("part-compact-x*.parquet"))
    assert compacted and sorted(reads) == compacted  # each once (base: each twice)

"""Readers of the archive while ``twin archive compact`` replaces its files, and a table folder that
is not a folder (round 15, CLEAN18).

Before: a compaction that merged and removed files between a reader's listing and DuckDB's read
made ``twin sql`` say ``bad query: ... Failed to open local file ... No such file`` (exit 2: the
query was fine), ``twin explain`` ``bad archive``, ``twin whatif`` an internal error; a file gone
between the listing and its footer read was skipped as "unreadable" (its rows, now in the merged
file that the listing missed, silently left out). ``<archive>/features`` being a regular file was
"every file is readable". Now a reader lists again once and answers; a second change is one line,
"run it again", exit 75; the odd table folder is reported and moved aside by ``--repair``.

The compaction is the real one (:func:`flows.archive.compact.compact_archive`), run at the exact
moment between the listing and the read (the reader's own functions wrapped): a race made
deterministic, nothing mocked.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from flows.archive import files, query
from flows.archive.compact import compact_archive
from flows.cli.main import main
from flows.dataflow.sinks.archive import write_rows
from tests.flows.archive_fixtures import T0, alert_rows, feature_rows, small_archive
from tests.flows.test_cli_errors import one_error_line

SUM = "SELECT count(*) AS n, sum(\"vib.rms\") AS s FROM features"
LATER = date(2027, 1, 1)


def _two_files(root: Path) -> Path:
    """The small archive plus a second features file in the same date (something to compact)."""
    small_archive(root)
    write_rows(root, "features", feature_rows(rms=10.0), "part-b-w0-000000", "b")
    return root


def _compact_after_connect(monkeypatch: pytest.MonkeyPatch, times: int) -> list[int]:
    """``connect`` (the views built: files listed) followed by a real compaction, ``times`` times;
    before each compaction after the first, two more files are written (something to merge again)."""
    real = query.connect
    done = [0]

    def connect_then_compact(root: Any, *args: Any, **kwargs: Any) -> Any:
        con = real(root, *args, **kwargs)
        if done[0] < times:
            if done[0]:
                for k in range(2):
                    run = f"c{done[0]}{k}"
                    write_rows(Path(root), "features", feature_rows(rms=10.0), f"part-{run}-w0-000000", run)
                    write_rows(Path(root), "alerts", alert_rows(), f"part-{run}-w0-000000", run)
            compact_archive(Path(root), LATER, f"part-compact-{done[0]}")
            done[0] += 1
        return con

    monkeypatch.setattr(query, "connect", connect_then_compact)
    monkeypatch.setattr("flows.app.explain.connect", connect_then_compact)  # imported by name there
    return done


def test_twin_sql_reads_again_when_a_compaction_removed_its_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    archive = _two_files(tmp_path / "a")
    done = _compact_after_connect(monkeypatch, times=1)
    assert main(["sql", SUM, "--archive", str(archive), "--format", "csv"]) == 0  # was 2: "bad query: ..."
    out = capsys.readouterr()
    assert done == [1] and out.out.splitlines() == ["n,s", "6,66.0"] and out.err == ""
    assert len(list((archive / "features").rglob("*.parquet"))) == 1  # the answer came from the merged file


def test_a_second_change_is_one_line_run_it_again_exit_75(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    archive = _two_files(tmp_path / "a")
    _compact_after_connect(monkeypatch, times=2)
    assert main(["sql", SUM, "--archive", str(archive), "--format", "csv"]) == 75 == files.CHANGED_EXIT
    out = capsys.readouterr()
    line = one_error_line(out.err)
    assert line.startswith("twin: error: the archive changed during the query: ") and "bad query" not in line
    assert line.endswith("was removed meanwhile (a `twin archive compact` or `--repair` replaces or moves "
                         "files); run it again")
    assert out.out == ""
    assert main(["sql", SUM, "--archive", str(archive), "--format", "csv"]) == 0  # nothing changes now
    assert capsys.readouterr().out.splitlines() == ["n,s", "6,66.0"]


def test_a_bad_query_is_still_a_bad_query(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = _two_files(tmp_path / "a")
    assert main(["sql", "SELECT nope FROM features", "--archive", str(archive)]) == 2
    assert one_error_line(capsys.readouterr().err).startswith("twin: error: bad query: Binder Error")


def test_explain_reads_again_when_a_compaction_removed_its_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    archive = _two_files(tmp_path / "a")
    write_rows(archive, "alerts", [dict(r, started_at=T0) for r in alert_rows()], "part-b-w0-000000", "b")
    done = _compact_after_connect(monkeypatch, times=1)
    assert main(["explain", "a1", "--archive", str(archive), "--json"]) == 0  # was 2: "bad archive ..."
    out = capsys.readouterr()
    assert done == [1] and '"alert_id": "a1"' in out.out and out.err == ""


def test_whatif_reads_again_when_a_compaction_removed_its_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``twin whatif``'s archive read (twin_state, damage_state) on an archive without them: the same
    answer as without a compaction (no twin state), not an internal error."""
    from flows.app.whatif_archive import archive_basis

    archive = _two_files(tmp_path / "a")
    (archive / "twin_state").mkdir()
    for k in range(2):  # two twin_state files of one date: what the compaction merges
        rows = [{"asset_id": "pump-000", "date": "2026-01-01", "timestamp": r["window_end"],
                 "window_start": r["window_start"], "condition": "healthy", "life_id": 1}
                for r in feature_rows(assets=1)]
        write_rows(archive, "twin_state", rows, f"part-s{k}-w0-000000", f"s{k}")
    real = query.connect
    done = [0]

    def connect_then_compact(root: Any, *args: Any, **kwargs: Any) -> Any:
        con = real(root, *args, **kwargs)
        if not done[0]:
            compact_archive(Path(root), LATER, "part-compact-w")
            done[0] += 1
        return con

    monkeypatch.setattr(query, "connect", connect_then_compact)
    basis, at = archive_basis(archive, "pump-000")  # was: duckdb InvalidInputException (internal error)
    assert done == [1] and basis.asset_id == "pump-000" and at.isoformat().startswith("2026-01-01T03:00")


def test_a_file_gone_between_listing_and_footer_is_listed_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The listing saw the two source files, not the merged one; the sources were gone when their
    footers were read: they were reported 'unreadable' and the query answered without their rows."""
    archive = _two_files(tmp_path / "a")
    real = files._read_schema
    done = [0]

    def compact_then_read(path: Path) -> Any:
        if not done[0]:
            done[0] = 1
            compact_archive(archive, LATER, "part-compact-s")
        return real(path)

    monkeypatch.setattr(files, "_read_schema", compact_then_read)
    assert main(["sql", SUM, "--archive", str(archive), "--format", "csv"]) == 0
    out = capsys.readouterr()
    assert out.out.splitlines() == ["n,s", "6,66.0"]  # was: n,s / 0, (and a warning: 2 unreadable files)
    assert out.err == ""


def test_archive_check_lists_again_and_says_when_the_archive_keeps_changing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    archive = _two_files(tmp_path / "a")
    real = files.listing
    removed: list[Path] = []

    def list_then_remove(folder: Path) -> Any:
        listed, odd = real(folder)
        if len(removed) < 2:  # removed after each of the first two listings (a compaction's last step)
            removed.append(listed[0])
            listed[0].unlink()
        return listed, odd

    monkeypatch.setattr(files, "listing", list_then_remove)
    assert main(["archive", "check", "--archive", str(archive)]) == 75  # was 1: "unreadable Parquet: ..."
    line = one_error_line(capsys.readouterr().err)
    gone = removed[1]  # listed in the held archive (round 42): /proc/self/fd/N/..., named as given
    shown = Path(archive, *gone.parts[5:]) if str(gone).startswith("/proc/self/fd/") else gone
    assert f"{shown} was removed meanwhile" in line and line.endswith("run it again")
    assert "/proc/self" not in line


@pytest.mark.parametrize("kind", ["file", "fifo"])
def test_a_table_folder_that_is_not_a_folder_is_reported_and_moved_aside(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str) -> None:
    import os
    import shutil

    archive = small_archive(tmp_path / "a")
    shutil.rmtree(archive / "features")
    if kind == "file":
        (archive / "features").write_bytes(b"not a folder")
        what = "a regular file"
    else:
        os.mkfifo(archive / "features")
        what = "a FIFO"
    assert main(["archive", "check", "--archive", str(archive)]) == 1  # was 0: "every file is readable"
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (f"features: foreign file: the table folder is {what}, not a folder (the table's rows "
                      "are missing)")
    assert out[1].endswith("1 unreadable or foreign file (queries skip them; --repair moves them into "
                           "_quarantine/)")
    assert main(["sql", "SELECT count(*) FROM features", "--archive", str(archive), "--format", "csv"]) == 2
    err = capsys.readouterr().err  # the warning names it, then DuckDB: no such table
    assert "skipped 1 unreadable or foreign archive file: features (foreign file: the table folder is" in err
    assert main(["archive", "check", "--archive", str(archive), "--repair"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "moved features -> _quarantine/features/features"
    assert not os.path.lexists(archive / "features")
    assert (archive / "_quarantine" / "features" / "features").exists()
    assert main(["archive", "check", "--archive", str(archive)]) == 0
    assert "every file is readable" in capsys.readouterr().out
    write_rows(archive, "features", feature_rows(), "part-d-w0-000000", "d")  # the writer can write it again
    assert main(["archive", "check", "--archive", str(archive)]) == 0


def test_a_query_s_consumer_streams_its_rows_and_reads_again_on_a_fresh_listing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Round 40 (QUERY40): ``query(..., consume=...)`` hands the started query's connection to the
    consumer (``twin commands list --archive`` folds the audit rows as they stream through it), within
    the same retry on a fresh listing and the same one-line errors as ``query``'s own fetch; the
    connection is closed after it."""
    archive = _two_files(tmp_path / "a")
    rows_sql = "SELECT asset_id, window_start, \"vib.rms\" FROM features ORDER BY ALL"
    expected = query.query(archive, rows_sql)[1]
    seen: list[Any] = []

    def streamed(con: Any) -> list[Any]:
        seen.append(con)
        got: list[Any] = []
        while batch := con.fetchmany(2):
            got.extend(batch)
        return got

    done = _compact_after_connect(monkeypatch, times=1)
    assert query.query(archive, rows_sql, consume=streamed) == expected and done == [1]
    assert seen and all(_closed(con) for con in seen)

    def bad_fetch(con: Any) -> None:
        seen.append(con)
        con.execute("SELECT nope FROM features")

    with pytest.raises(query.ArchiveError, match=r"^bad query: Binder Error"):
        query.query(archive, rows_sql, consume=bad_fetch)
    assert _closed(seen[-1])


def _closed(con: Any) -> bool:
    try:
        con.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - duckdb's ConnectionException: closed
        return "closed" in str(exc).lower()
    return False


def test_a_file_removed_meanwhile_is_named_whole_with_a_quote_in_its_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Round 41 (HOSTILE41): the file gone between the listing and DuckDB's read was found by its name
    between quotes in Arrow's message, which a quote in the name cut short: ``part-q-w0-000000.parquet'; x
    .parquet`` removed twice was said as ``.../part-q-w0-000000.parquet``, a file that never was."""
    archive = small_archive(tmp_path / "a")
    name = "part-q-w0-000000.parquet'; x.parquet"
    write_rows(archive, "features", feature_rows(rms=10.0), name.removesuffix(".parquet"), "q")
    odd = next((archive / "features").rglob(name))
    real, data = query.connect, odd.read_bytes()

    def connect_then_remove(root: Any, *args: Any, **kwargs: Any) -> Any:
        odd.write_bytes(data)  # there when listed, each time
        con = real(root, *args, **kwargs)
        odd.unlink()  # gone when read
        return con

    monkeypatch.setattr(query, "connect", connect_then_remove)
    assert main(["sql", SUM, "--archive", str(archive), "--format", "csv"]) == 75
    line = one_error_line(capsys.readouterr().err)
    assert f"the archive changed during the query: {odd} was removed meanwhile" in line


def test_a_file_with_the_views_rank_column_is_skipped_not_a_failure_of_every_query(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Round 41 (HOSTILE41): one file of a table holding a column named ``__twin_file_rank`` (the name
    the views rank files by) made every query of that table "bad query: ... Multiple matches for
    FieldRef.Name(__twin_file_rank)", exit 2. It is a foreign file now: skipped with the warning."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    archive = small_archive(tmp_path / "a")
    assert main(["sql", SUM, "--archive", str(archive), "--format", "csv"]) == 0
    before = capsys.readouterr().out
    src = next((archive / "features").rglob("*.parquet"))
    data = pq.read_table(src)
    planted = src.with_name("part-z-w0-000000.parquet")
    pq.write_table(data.append_column("__twin_file_rank", pa.array([7] * data.num_rows)), planted)
    assert main(["sql", SUM, "--archive", str(archive), "--format", "csv"]) == 0
    out = capsys.readouterr()
    assert out.out == before
    assert f"{planted.relative_to(archive)} (foreign schema: holds a '__twin_file_rank' column" in out.err

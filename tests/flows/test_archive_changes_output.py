"""What ``twin sql`` says when the archive changes under it (round 17, CLEAN20).

Before: a query that listed the archive twice (a compaction removed a file between the listing
and the read, so it listed again) printed the "skipped N unreadable files" warning twice; and a
change found AFTER rows were already written ended with the plain "run it again" line, exit 75,
with nothing saying the rows above were only part of the result. Now the warning is printed once
and the late change says how many rows above are partial.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from flows.archive import files, query
from flows.archive.compact import compact_archive
from flows.cli.main import main
from flows.dataflow.sinks.archive import write_rows
from tests.flows.archive_fixtures import alert_rows, feature_rows
from tests.flows.test_archive_changes import LATER, SUM, _compact_after_connect, _two_files
from tests.flows.test_cli_errors import one_error_line


def _with_a_foreign_file(root: Path) -> Path:
    folder = root / "features" / "date=2026-01-05"
    folder.mkdir(parents=True)
    (folder / "junk.parquet").write_bytes(b"not parquet at all")
    return root


def test_skipped_files_are_warned_about_once_when_the_archive_is_listed_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    archive = _with_a_foreign_file(_two_files(tmp_path / "a"))
    done = _compact_after_connect(monkeypatch, times=1)
    assert main(["sql", SUM, "--archive", str(archive), "--format", "csv"]) == 0
    out = capsys.readouterr()
    assert done == [1] and out.out.splitlines() == ["n,s", "6,66.0"]
    warnings = [ln for ln in out.err.splitlines() if ln.strip()]
    assert len(warnings) == 1, out.err  # was 2: one per listing
    assert warnings[0].startswith("twin: warning: skipped 1 unreadable or foreign archive file: "
                                  "features/date=2026-01-05/junk.parquet (")


def test_the_query_function_also_warns_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    archive = _with_a_foreign_file(_two_files(tmp_path / "a"))
    _compact_after_connect(monkeypatch, times=1)
    cols, rows = query.query(archive, SUM)
    assert (cols, rows) == (["n", "s"], [(6, 66.0)])
    assert len(capsys.readouterr().err.splitlines()) == 1


def _many_rows(root: Path) -> Path:
    """3600 feature rows (four fetches of 1000) and two alerts files (something to compact)."""
    write_rows(root, "features", feature_rows(assets=50, windows=72), "part-a-w0-000000", "a")
    for k in range(2):
        write_rows(root, "alerts", alert_rows(), f"part-{k}-w0-000000", f"r{k}")
    return root


def _change_at_fetch(monkeypatch: pytest.MonkeyPatch, root: Path, at_call: int) -> list[Path]:
    """At the ``at_call``-th DuckDB call of ``twin sql`` (1: execute, 2: the first batch, 3: the
    second ...), a real compaction removes the alerts files, and the fetch fails as DuckDB fails on
    a file gone under its Arrow scan (its message quoting the path). The views' window functions
    read every file before the first row, so DuckDB itself cannot be caught late on this archive:
    the failure is injected, the removal is real."""
    real = query.interruptible
    calls, gone = [0], sorted((root / "alerts").rglob("*.parquet"))

    def hooked(con: Any, call: Any, deadline: Any = None) -> Any:
        calls[0] += 1
        if calls[0] == at_call:
            compact_archive(root, LATER, "part-compact-late")
            assert not gone[0].exists()
            msg = (f"Invalid Input Error: reading the Arrow source failed: IOError: Failed to open local "
                   f"file '{gone[0]}'. Detail: [errno 2] No such file or directory")  # DuckDB 2.0.1's words
            raise duckdb.InvalidInputException(msg)
        return real(con, call, deadline)

    monkeypatch.setattr(query, "interruptible", hooked)
    return gone


SELECT_ALL = "SELECT asset_id, window_start FROM features ORDER BY asset_id, window_start"


@pytest.mark.parametrize("fmt", ["csv", "table", "json"])
def test_a_change_after_rows_were_written_says_they_are_partial(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        fmt: str) -> None:
    archive = _many_rows(tmp_path / "a")
    gone = _change_at_fetch(monkeypatch, archive, at_call=4)  # after two batches: 2000 rows out
    rc = main(["sql", SELECT_ALL, "--archive", str(archive), "--format", fmt, "--max-rows", "0"])
    out = capsys.readouterr()
    assert rc == 75 == files.CHANGED_EXIT
    line = one_error_line(out.err)
    assert line == (f"twin: error: the archive changed during the query: {gone[0]} was removed meanwhile (a "
                    "`twin archive compact` or `--repair` replaces or moves files); the 2000 rows written "
                    "above are only part of the result; run it again")
    data = [ln for ln in out.out.splitlines() if ln.strip()]
    header = {"csv": 1, "table": 2, "json": 0}[fmt]
    assert len(data) == 2000 + header  # and no "(N rows)" footer claiming a whole result


def test_a_change_before_any_row_is_written_is_read_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """At the first batch nothing is written yet: the query starts again on a fresh listing."""
    archive = _many_rows(tmp_path / "a")
    _change_at_fetch(monkeypatch, archive, at_call=2)
    rc = main(["sql", SELECT_ALL, "--archive", str(archive), "--format", "csv", "--max-rows", "0"])
    out = capsys.readouterr()
    assert rc == 0 and out.err == ""
    assert len(out.out.splitlines()) == 3601


def test_partial_message_for_one_row() -> None:
    changed = files.ArchiveChanged("/a/x.parquet").after_rows(1)
    assert "; the 1 row written above is only part of the result; run it again" in str(changed)
    assert changed.exit_status == 75 and changed.rows_written == 1


def test_partial_message_counts_rows_and_none_without_rows() -> None:
    assert "; the 2 rows written above are only part of the result; run it" in str(
        files.ArchiveChanged("/a/x.parquet", 2))
    assert str(files.ArchiveChanged("/a/x.parquet")).endswith("replaces or moves files); run it again")


def test_first_line_of_an_error_or_its_type() -> None:
    """The one helper of the file reasons (scan, pages, merge, asset rows): an empty message (which
    ``str(exc).splitlines()[0]`` in the schema union raised IndexError on) names the type."""
    assert files.first_line(ValueError("bad footer\nIn ../src/arrow/x.cc:12")) == "bad footer"
    assert files.first_line(OSError()) == "OSError"

"""The archive's readers over many part files: one schema object per distinct schema, the views' files
scanned a chunk at a time (round 40, QUERY40).

Before: ``scan_table`` kept every file's own footer schema (~9 KB of Arrow objects a file: 20,000 parts
of ``twin_state``, 175 MB), and a view's one Arrow dataset kept every file's parsed footer once scanned
(~74 KB a file: ``SELECT count(*) FROM twin_state`` over 20,000 parts peaked at 1.8 GB). Now equal
schemas are one object, and a view's scan holds the datasets of :data:`flows.archive.views.CHUNK_FILES`
files at a time; the answers are the same (memory figures: benchmarks/RESULTS.md, round 40).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from flows.archive import files, query, views
from flows.archive.files import scan_table
from flows.cli.main import main
from flows.dataflow.sinks.archive import write_rows
from tests.flows.archive_fixtures import feature_rows, small_archive
from tests.flows.test_cli_errors import one_error_line
from tests.flows.test_hostile_archive import _corrupt_pages

QUERIES = (
    "SELECT asset_id, window_start, \"vib.rms\", \"temp.mean\", date FROM features ORDER BY ALL",
    "SELECT count(*), sum(\"vib.rms\") FROM features WHERE asset_id = 'pump-001'",
    "SELECT * FROM features WHERE window_start > TIMESTAMPTZ '2026-01-01 00:30:00+00' ORDER BY ALL",
    "SELECT a.asset_id, count(*) FROM features a JOIN features b USING (asset_id, window_start) "
    "GROUP BY 1 ORDER BY 1",
    "SELECT count(*) FROM alerts",
)
SUM = "SELECT count(*), sum(\"vib.rms\"), sum(\"temp.mean\") FROM features"


def _many_parts(root: Path) -> Path:
    """7 features parts over two dates, two feature-name sets, a key written again by later parts
    (the newest write must win across chunks), and the small archive's alerts."""
    small_archive(root)
    for k in range(6):
        rows = feature_rows(rms=10.0 * k)
        for row in rows:
            if k % 2:
                row["temp.mean"] = float(k)
            if k >= 4:  # noqa: PLR2004 - the last two parts: another date
                row["date"] = "2026-01-02"
        write_rows(root, "features", rows, f"part-k{k}-w0-000000", f"k{k}")
    return root


def test_a_listing_keeps_one_schema_object_per_distinct_schema(tmp_path: Path) -> None:
    archive = _many_parts(tmp_path / "a")
    planted = archive / "features" / "date=2026-01-01" / "part-m-w0-000000.parquet"
    own = next((archive / "features" / "date=2026-01-01").glob("part-k0-*.parquet"))
    data = pq.read_table(own)  # the same columns, other metadata: a schema of its own
    pq.write_table(data.replace_schema_metadata({b"note": b"copied"}), planted)
    tf = scan_table(archive, "features")
    assert len(tf.files) == 8 and not tf.bad  # noqa: PLR2004
    for f in tf.files:  # each file's schema is its footer's, metadata included
        assert f.schema.equals(pq.read_schema(f.path), check_metadata=True)
    shared = {id(f.schema) for f in tf.files}
    assert len(shared) == 3  # noqa: PLR2004 - was 8: one object per file (~9 KB each)
    assert tf.schema is not None and {"vib.rms", "temp.mean"} <= set(tf.schema.names)


def _answers(archive: Path) -> list[Any]:
    return [query.query(archive, sql) for sql in QUERIES]


def test_a_view_over_more_files_than_a_chunk_gives_the_same_rows(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    archive = _many_parts(tmp_path / "a")
    whole = _answers(archive)
    made: list[int] = []
    real = views._files_dataset

    def counted(paths: list[str], *args: Any) -> Any:
        made.append(len(paths))
        return real(paths, *args)

    monkeypatch.setattr(views, "CHUNK_FILES", 2)
    monkeypatch.setattr(views, "_files_dataset", counted)
    assert _answers(archive) == whole
    assert whole[0][1] and whole[1][1] == [(3, pytest.approx(3 * (50.0 + 1.0)))]
    assert made and max(made) <= 2 and made.count(2) >= 3  # noqa: PLR2004 - never the table's 7 files at once
    dataset = views._dataset(scan_table(archive, "features"))
    assert isinstance(dataset, views.FilesInChunks) and dataset.count_rows() == 7 * 6  # noqa: PLR2004 - every write, before the view keeps the newest
    assert dataset.to_table(columns=["asset_id"]).num_rows == 7 * 6  # noqa: PLR2004


def test_a_corrupt_file_in_a_later_chunk_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    archive = _many_parts(tmp_path / "a")
    monkeypatch.setattr(views, "CHUNK_FILES", 2)
    bad = sorted((archive / "features").rglob("*.parquet"))[-1]
    _corrupt_pages(bad)
    assert main(["sql", "SELECT count(*) FROM features", "--archive", str(archive), "--format", "csv"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith(f"twin: error: the archive file {bad} cannot be read (corrupt data pages: ")


@pytest.mark.parametrize("removals", [1, 2])
def test_a_file_removed_before_its_chunk_is_read_lists_again(removals: int, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A file listed but gone when its chunk is opened (a compaction merged it meanwhile): the archive
    is listed again and the query answers from it; gone again on the second listing: one line, exit 75."""
    archive = _many_parts(tmp_path / "a")
    monkeypatch.setattr(views, "CHUNK_FILES", 2)
    real, listed = views._files_dataset, []
    moved: list[Path] = []

    def remove_a_later_file(paths: list[str], *args: Any) -> Any:
        if len(moved) < removals and len(listed) > len(moved):
            later = sorted((archive / "features").rglob("*.parquet"))[-1]
            moved.append(later)
            later.rename(tmp_path / f"{len(moved)}-{later.name}")  # out of the archive
        return real(paths, *args)

    real_scan = query.scan_table

    def scan(*args: Any, **kwargs: Any) -> Any:
        listed.append(1)
        return real_scan(*args, **kwargs)

    monkeypatch.setattr(query, "scan_table", scan)
    monkeypatch.setattr(views, "_files_dataset", remove_a_later_file)
    code = main(["sql", SUM, "--archive", str(archive), "--format", "csv"])
    out = capsys.readouterr()
    assert len(moved) == removals and len(listed) == 2  # noqa: PLR2004 - listed again once
    if removals == 1:
        monkeypatch.undo()
        assert code == 0 and out.err == ""
        assert main(["sql", SUM, "--archive", str(archive), "--format", "csv"]) == 0
        assert capsys.readouterr().out == out.out  # the answer of the archive as it is now
    else:
        assert code == 75 == files.CHANGED_EXIT and out.out == ""
        assert one_error_line(out.err).startswith("twin: error: the archive changed during the query: ")

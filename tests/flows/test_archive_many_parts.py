"""The archive's readers over many part files: one schema object per distinct schema, the views' scans
keep no file's footer (round 40, QUERY40).

Before: ``scan_table`` kept every file's own footer schema (~9 KB of Arrow objects a file: 20,000 parts
of ``twin_state``, 175 MB), and a view's one Arrow dataset kept every file's parsed footer once scanned
(~74 KB a file: ``SELECT count(*) FROM twin_state`` over 20,000 parts peaked at 1.8 GB). Now equal
schemas are one object, and a view's scans ask Arrow not to cache footers
(:class:`flows.archive.views.UncachedFiles`); the answers are the same (memory figures:
benchmarks/RESULTS.md, round 40).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from flows.archive import query, views
from flows.archive.files import scan_table
from flows.dataflow.sinks.archive import write_rows
from tests.flows.archive_fixtures import feature_rows, small_archive

QUERIES = (
    "SELECT asset_id, window_start, \"vib.rms\", \"temp.mean\", date FROM features ORDER BY ALL",
    "SELECT count(*), sum(\"vib.rms\") FROM features WHERE asset_id = 'pump-001'",
    "SELECT * FROM features WHERE window_start > TIMESTAMPTZ '2026-01-01 00:30:00+00' ORDER BY ALL",
    "SELECT a.asset_id, count(*) FROM features a JOIN features b USING (asset_id, window_start) "
    "GROUP BY 1 ORDER BY 1",
    "SELECT count(*) FROM alerts",
)


def _many_parts(root: Path) -> Path:
    """7 features parts over two dates, two feature-name sets, a key written again by later parts
    (the newest write must win), and the small archive's alerts."""
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


def test_every_scan_of_a_view_goes_through_its_scanner_with_the_same_rows(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DuckDB scans a view's dataset through its class's ``scanner``: each scan (two in a self-join) asks
    Arrow for ``cache_metadata=False``, and the rows are those of Arrow's own caching scanner."""
    archive = _many_parts(tmp_path / "a")
    asked: list[dict[str, Any]] = []
    real = views.UncachedFiles.scanner

    def recorded(self: Any, **options: Any) -> Any:
        scanner = real(self, **options)
        asked.append(options)
        return scanner

    monkeypatch.setattr(views.UncachedFiles, "scanner", recorded)
    got = _answers(archive)
    assert len(asked) >= len(QUERIES) + 1  # noqa: PLR2004 - the self-join scans the view twice
    assert all("cache_metadata" not in o for o in asked)  # DuckDB's own options; the override adds it
    monkeypatch.setattr(views.UncachedFiles, "scanner", ds.FileSystemDataset.scanner)  # Arrow's, caching
    assert _answers(archive) == got
    assert got[0][1] and got[1][1] == [(3, pytest.approx(3 * (50.0 + 1.0)))]  # the newest write of each key
    dataset = views._dataset(scan_table(archive, "features"))
    assert isinstance(dataset, views.UncachedFiles) and dataset.count_rows() == 7 * 6  # noqa: PLR2004 - every write
    assert dataset.to_table(columns=["asset_id"]).num_rows == 7 * 6  # noqa: PLR2004


def _footer_kept(archive: Path, tmp_path: Path, scanner: Any, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Whether a view's fragment still holds its file's footer after a query: read with the file gone."""
    datasets: list[Any] = []

    def recorded(self: Any, **options: Any) -> Any:
        datasets.append(self)
        return scanner(self, **options)

    monkeypatch.setattr(views.UncachedFiles, "scanner", recorded)
    with query.connect(archive, ["features"]) as con:
        assert con.execute("SELECT count(*) FROM features").fetchall() == [(6,)]
        fragment = next(iter(datasets[0].get_fragments()))
        gone = tmp_path / f"gone-{len(list(tmp_path.iterdir()))}.parquet"
        Path(fragment.path).rename(gone)
        try:
            return fragment.metadata.num_rows > 0  # cached: no file needed
        except OSError:
            return False
        finally:
            gone.rename(fragment.path)


def test_a_scan_of_a_view_leaves_no_footer_held(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Arrow's own scanner keeps each footer it read in its fragment (~74 KB a file for the view's
    life: 6.5 GB at 80,000 parts); the view's scans keep none."""
    archive, ours = _many_parts(tmp_path / "a"), views.UncachedFiles.scanner
    assert _footer_kept(archive, tmp_path, ds.FileSystemDataset.scanner, monkeypatch)
    assert not _footer_kept(archive, tmp_path, ours, monkeypatch)


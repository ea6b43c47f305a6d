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

import pyarrow.parquet as pq

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

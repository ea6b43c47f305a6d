"""A flush of several dates writes all of its files or none (round 29, SPLIT29).

Since round 28 (SMALLFILE28) a small file's table is made at its write: a flush of several dates
whose later date held a value Arrow refuses wrote the earlier dates' files, then failed (the row
path, ``write_rows``, did the same). Every date's table is now made first, and the files written
only once all are made; the failure is raised as before (the sink's writer hands it to the worker,
which stops the flow)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from flows.dataflow.sinks.archive import ParquetArchiveSink, alert_row, write_records, write_rows
from tests.unit.test_serde import make_alert

TOO_BIG = 2**70
"""An alert ``sequence`` (``int64`` in the archive) Arrow refuses."""


def _two_dates() -> list[Any]:
    """Two alerts of one asset on two dates; the second's sequence does not fit its column."""
    good = make_alert()
    return [good, replace(good, timestamp=good.timestamp + timedelta(days=1), sequence=TOO_BIG)]


def _written(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_a_flush_whose_second_date_arrow_refuses_writes_no_file(tmp_path: Path) -> None:
    with pytest.raises(OverflowError):
        write_records(tmp_path, "alerts", _two_dates(), "part-x", "run-1")
    assert _written(tmp_path) == []  # before: alerts/date=2024-05-01/part-x.parquet


def test_rows_whose_second_date_arrow_refuses_write_no_file(tmp_path: Path) -> None:
    with pytest.raises(OverflowError):
        write_rows(tmp_path, "alerts", [alert_row(r) for r in _two_dates()], "part-x", "run-1")
    assert _written(tmp_path) == []


def test_the_sink_reports_such_a_flush_as_before_and_writes_none_of_it(tmp_path: Path) -> None:
    """Through the sink's partition: its writer raises the failure on the worker (at close here),
    and neither date's file is in the archive."""
    part = ParquetArchiveSink(tmp_path, "alerts", batch_rows=2, flush_interval_s=1e9,
                              run_id="run-1").build_part("alerts_out_0", "w0", None)
    part.write_batch(_two_dates())  # reaches batch_rows: handed to the writer thread
    with pytest.raises(OverflowError):
        part.close()
    assert _written(tmp_path) == []


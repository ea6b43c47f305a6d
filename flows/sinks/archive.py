"""Parquet archive sink: hive partitions ``<root>/<table>/date=YYYY-MM-DD/asset_id=<id>/``.

Rows are buffered per worker and written in batches (``batch_rows``) and at close, never one file
per record. File names carry a run id, the worker and a sequence number, so appending from later
runs or after a restart never overwrites anything already written; the DuckDB views in
:mod:`flows.archive` deduplicate rows that a resumed run writes again.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
from bytewax.dataflow import Stream
from bytewax.outputs import DynamicSink, StatelessSinkPartition

import bytewax.operators as op
from flows.metrics import PipelineMetrics
from twin_models.records import Alert, FeatureVector, TwinSnapshot

__all__ = ["TABLES", "ParquetArchiveSink", "alert_row", "archive_attacher", "feature_row", "state_row"]

TABLES = ("features", "twin_state", "alerts")


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def feature_row(fv: FeatureVector) -> dict[str, Any]:
    """One features row: keys, then one column per feature name."""
    row: dict[str, Any] = {
        "asset_id": fv.asset_id,
        "date": fv.window_start.date().isoformat(),
        "window_start": fv.window_start,
        "window_end": fv.window_end,
        "n_records": fv.n_records,
        "events": ",".join(e.kind for e in fv.events),
    }
    row.update({k: _num(v) for k, v in sorted(fv.features.items())})
    return row


def state_row(s: TwinSnapshot) -> dict[str, Any]:
    """One twin_state row."""
    return {
        "asset_id": s.asset_id,
        "date": s.window_start.date().isoformat(),
        "timestamp": s.timestamp,
        "window_start": s.window_start,
        "condition": s.condition,
        "anomaly_score": s.anomaly_score,
        "health_index": s.health_index,
        "rul_s": _num(s.rul_s),
        "rul_lower_s": _num(s.rul_lower_s),
        "rul_upper_s": _num(s.rul_upper_s),
        "rul_source": s.rul_source,
        "drift": s.drift,
        "n_windows": s.n_windows,
        "life_id": s.life_id,
        "degradation": s.degradation,
        "defect": s.defect,
        "evidence": s.evidence,
        "top_features": json.dumps(list(s.top_features)),
        "context": json.dumps(s.context),
    }


def alert_row(a: Alert) -> dict[str, Any]:
    """One alerts row (one per alert message)."""
    return {
        "alert_id": a.alert_id,
        "asset_id": a.asset_id,
        "date": a.timestamp.date().isoformat(),
        "kind": a.kind,
        "severity": a.severity,
        "status": a.status,
        "sequence": a.sequence,
        "started_at": a.started_at,
        "timestamp": a.timestamp,
        "explanation": a.explanation,
        "anomaly_score": a.anomaly_score,
        "health_index": a.health_index,
        "rul_s": _num(a.rul_s),
        "defect": a.defect,
        "top_features": json.dumps(list(a.top_features)),
    }


ROWS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "features": feature_row,
    "twin_state": state_row,
    "alerts": alert_row,
}

_PARTITIONING = ds.partitioning(
    pa.schema([("date", pa.string()), ("asset_id", pa.string())]), flavor="hive"
)


def write_rows(root: Path, table: str, rows: list[dict[str, Any]], basename: str) -> None:
    """Write rows as new Parquet files under ``root/table`` (existing files are left alone)."""
    if not rows:
        return
    t = pa.Table.from_pylist(rows)
    ds.write_dataset(
        t,
        root / table,
        format="parquet",
        partitioning=_PARTITIONING,
        basename_template=basename + "-{i}.parquet",
        existing_data_behavior="overwrite_or_ignore",
        max_rows_per_group=1 << 20,
    )


class _ArchivePartition(StatelessSinkPartition[Any]):
    def __init__(self, sink: ParquetArchiveSink, worker: int) -> None:
        self.sink = sink
        self.worker = worker
        self.rows: list[dict[str, Any]] = []
        self.seq = 0

    def write_batch(self, items: list[Any]) -> None:
        to_row = ROWS[self.sink.table]
        self.rows.extend(to_row(x) for x in items)
        if len(self.rows) >= self.sink.batch_rows:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        base = f"part-{self.sink.run_id}-w{self.worker}-{self.seq:06d}"
        write_rows(self.sink.root, self.sink.table, self.rows, base)
        if self.sink.metrics is not None:
            self.sink.metrics.sink_rows.labels(table=self.sink.table).inc(len(self.rows))
        self.rows = []
        self.seq += 1

    def close(self) -> None:
        self.flush()


class ParquetArchiveSink(DynamicSink[Any]):
    """Bytewax sink writing one archive table (``features``, ``twin_state`` or ``alerts``)."""

    def __init__(
        self,
        root: str | Path,
        table: str,
        *,
        batch_rows: int = 20000,
        run_id: str | None = None,
        metrics: PipelineMetrics | None = None,
    ) -> None:
        if table not in ROWS:
            msg = f"unknown archive table {table!r}; expected one of {', '.join(TABLES)}"
            raise ValueError(msg)
        self.root = Path(root)
        self.table = table
        self.batch_rows = batch_rows
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        self.run_id = run_id or f"{stamp}-{uuid.uuid4().hex[:8]}"
        self.metrics = metrics

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _ArchivePartition:
        """One buffer per worker."""
        return _ArchivePartition(self, worker_index)


def archive_attacher(
    root: str | Path, table: str, **kwargs: Any
) -> Callable[[str, Stream[Any]], None]:
    """A :data:`flows.pipeline.SinkAttacher` that archives a stream into ``table``."""
    sink = ParquetArchiveSink(root, table, **kwargs)

    def attach(step_id: str, stream: Stream[Any]) -> None:
        op.output(step_id, stream, sink)

    return attach

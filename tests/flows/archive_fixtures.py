"""A small archive written by the real writer (no dataflow run), for the archive and SQL tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flows.dataflow.sinks.archive import write_rows

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def feature_rows(assets: int = 2, windows: int = 3, rms: float = 0.5) -> list[dict[str, Any]]:
    rows = []
    for a in range(assets):
        for w in range(windows):
            start = T0 + timedelta(hours=w)
            rows.append({"asset_id": f"pump-{a:03d}", "date": start.date().isoformat(),
                         "window_start": start, "window_end": start + timedelta(hours=1),
                         "n_records": 10, "events": "", "vib.rms": rms + w})
    return rows


def alert_rows() -> list[dict[str, Any]]:
    return [{"alert_id": "a1", "asset_id": "pump-000", "date": "2026-01-01", "kind": "condition",
             "severity": "warning", "status": status, "sequence": seq, "timestamp": T0 + timedelta(hours=seq),
             "explanation": "because"} for seq, status in enumerate(("raised", "updated", "cleared"))]


def small_archive(root: Path, run_id: str = "20260101T000000-aaaaaaaa") -> Path:
    """features (2 assets x 3 windows) and alerts (one episode of 3 messages)."""
    write_rows(root, "features", feature_rows(), f"part-{run_id}-w0-000000", run_id)
    write_rows(root, "alerts", alert_rows(), f"part-{run_id}-w0-000000", run_id)
    return root

"""`twin backtest`: formats, outputs, prequential scores, report, bad input."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.cli.main import main

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _nab_csv(path: Path, n: int = 400, spike_at: int = 300) -> Path:
    rng = np.random.default_rng(0)
    lines = ["timestamp,value"]
    for i in range(n):
        v = 10 + rng.normal(0, 0.5) + (25 if spike_at <= i < spike_at + 5 else 0)
        lines.append(f"{(T0 + timedelta(minutes=5 * i)).strftime('%Y-%m-%d %H:%M:%S')},{v:.4f}")
    path.write_text("\n".join(lines) + "\n")
    return path


CONFIG = "[pipeline]\nwindow_s = 300\nallowed_lateness_s = 0\n[pipeline.twin]\nwarmup_windows = 30\n"


def test_backtest_nab_series_scores_every_window_and_flags_the_spike(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    csv = _nab_csv(tmp_path / "sensor_a.csv")
    cfg = tmp_path / "bt.toml"
    cfg.write_text(CONFIG)
    out = tmp_path / "out"
    assert main(["backtest", str(csv), "--out", str(out), "--config", str(cfg), "--no-progress"]) == 0
    assert "400 records, 400 windows" in capsys.readouterr().out
    scores = pq.read_table(out / "scores.parquet").to_pylist()
    assert len(scores) == 400 and {r["asset_id"] for r in scores} == {"sensor_a"}
    assert all(0.0 <= r["anomaly_score"] <= 1.0 for r in scores)
    spike = [r["anomaly_score"] for r in scores[300:305]]
    before = [r["anomaly_score"] for r in scores[100:300]]
    assert max(spike) > 0.999 > max(before)
    assert any(r["alert_active"] for r in scores[300:310])
    assert not any(r["alert_active"] for r in scores[:300])
    alerts = pq.read_table(out / "alerts.parquet").to_pylist()
    assert alerts[0]["status"] == "raised" and alerts[0]["asset_id"] == "sensor_a"
    page = (out / "report.html").read_text()
    assert "sensor_a" in page and "figures/sensor_a.png" in page
    assert (out / "figures" / "sensor_a.png").stat().st_size > 10_000



def test_a_quiet_backtest_writes_alerts_parquet_with_every_column(tmp_path: Path) -> None:
    """No alert: alerts.parquet still has the declared columns and types (a query on severity finds
    no rows, not no column), and the same schema as a run that alerted."""
    cfg = tmp_path / "bt.toml"
    cfg.write_text(CONFIG)
    quiet = _nab_csv(tmp_path / "quiet.csv", n=120, spike_at=10_000)
    loud = _nab_csv(tmp_path / "loud.csv", n=400, spike_at=300)
    for src, out in ((quiet, "q"), (loud, "l")):
        assert main(["backtest", str(src), "--out", str(tmp_path / out), "--config", str(cfg),
                     "--no-progress", "--no-report"]) == 0
    empty = pq.read_table(tmp_path / "q" / "alerts.parquet")
    alerted = pq.read_table(tmp_path / "l" / "alerts.parquet")
    assert empty.num_rows == 0 and alerted.num_rows > 0
    assert empty.schema.equals(alerted.schema)
    assert empty.schema.field("severity").type == pa.string()
    assert empty.schema.field("timestamp").type == pa.timestamp("us", tz="UTC")

def test_backtest_is_prequential(tmp_path: Path) -> None:
    """Scores of the first half do not change when the future (second half) is different."""
    cfg = tmp_path / "bt.toml"
    cfg.write_text(CONFIG)
    full = _nab_csv(tmp_path / "a.csv", n=400, spike_at=300)
    other = _nab_csv(tmp_path / "b.csv", n=400, spike_at=350)
    for src, out in ((full, "o1"), (other, "o2")):
        assert main(["backtest", str(src), "--out", str(tmp_path / out), "--config", str(cfg),
                     "--no-progress", "--no-report"]) == 0
    a = pq.read_table(tmp_path / "o1" / "scores.parquet").column("anomaly_score").to_pylist()
    b = pq.read_table(tmp_path / "o2" / "scores.parquet").column("anomaly_score").to_pylist()
    assert a[:300] == b[:300] and a[300:310] != b[300:310]


def test_backtest_waveforms_with_events_gives_true_rul(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    n = 40
    wave = pa.table({
        "timestamp": pa.array([T0 + timedelta(minutes=10 * i) for i in range(n)], pa.timestamp("us", "UTC")),
        "asset_id": ["brg-1"] * n,
        "sample_rate_hz": [25600.0] * n,
        "vib": pa.array([rng.normal(0, 0.1 * (1 + i / 10), 2560).astype(np.float32).tolist()
                         for i in range(n)], pa.list_(pa.float32())),
    })
    pq.write_table(wave, tmp_path / "wave.parquet")
    failure = T0 + timedelta(minutes=10 * n)
    (tmp_path / "events.csv").write_text(f"timestamp,asset_id,event\n{failure.isoformat()},brg-1,failure\n")
    cfg = tmp_path / "bt.toml"
    cfg.write_text("[pipeline]\nwindow_s = 600\n[pipeline.twin]\nwarmup_windows = 10\n")
    out = tmp_path / "out"
    assert main(["backtest", str(tmp_path / "wave.parquet"), "--events", str(tmp_path / "events.csv"),
                 "--out", str(out), "--config", str(cfg), "--no-progress"]) == 0
    rows = pq.read_table(out / "scores.parquet").to_pylist()
    assert len(rows) == n
    last = rows[-1]
    assert last["true_rul"] == pytest.approx(0.0)
    assert rows[0]["true_rul"] == pytest.approx((failure - rows[0]["timestamp"]).total_seconds())
    assert (out / "figures" / "brg-1_vib_envelope.png").exists()
    assert math.isfinite(rows[-1]["health_index"])


@pytest.mark.parametrize("content, needle", [
    ("timestamp,asset_id,temp,site\n2024-01-01T00:00:00Z,a,1.0,north\n", "column 'site'"),
    ("timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:05:00,abc\n", "line 3"),
])
def test_bad_input_file_is_one_line_naming_file_row_column(tmp_path: Path, content: str, needle: str,
                                                           capsys) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    assert main(["backtest", str(bad), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("twin: error:") and "bad.csv" in err and needle in err
    assert err.count("\n") == 1

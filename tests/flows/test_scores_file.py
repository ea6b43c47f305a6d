"""scores.parquet written as windows close (round 39, MEM39): the same file as the table built from
every snapshot held in memory (:func:`scores_table`, the code path before, kept here as the reference),
and ``twin backtest`` keeps no snapshot until the end."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.app import backtest, report_html, scores_file
from flows.app.report import plot_asset
from flows.app.scores_file import ScoresSpool, asset_series, episode_spans, is_active, true_rul
from flows.cli.main import main
from flows.config.pipeline import load_config
from twin_models.records import Alert, TwinSnapshot

T0 = datetime(2024, 1, 1, tzinfo=UTC)
CONFIG = "[pipeline]\nwindow_s = 300\nallowed_lateness_s = 0\n[pipeline.twin]\nwarmup_windows = 30\n"


def scores_table(snapshots: Sequence[TwinSnapshot], alerts: Sequence[Alert],
                 failures: Mapping[str, list[datetime]]) -> pa.Table:
    """The reference: one row per asset window, in time order per asset, built from snapshots held
    in memory, as ``flows.app.backtest`` built ``scores.parquet`` until round 39."""
    snaps = sorted(snapshots, key=lambda s: (s.asset_id, s.window_start))
    spans = episode_spans(alerts)
    return pa.table({
        "timestamp": [s.timestamp for s in snaps],
        "window_start": [s.window_start for s in snaps],
        "asset_id": [s.asset_id for s in snaps],
        "anomaly_score": [s.anomaly_score for s in snaps],
        "alert_active": [is_active(spans, s.asset_id, s.timestamp) for s in snaps],
        "condition": [s.condition for s in snaps],
        "health_index": [s.health_index for s in snaps],
        "rul": [s.rul_s for s in snaps],
        "rul_lower": [s.rul_lower_s for s in snaps],
        "rul_upper": [s.rul_upper_s for s in snaps],
        "true_rul": [true_rul(failures, s.asset_id, s.timestamp) for s in snaps],
        "defect": [s.defect for s in snaps],
    })


def _fleet_csv(path: Path, n: int = 300) -> Path:
    """Three assets, rows interleaved in time, each with a spike (alerts) at its own time."""
    rng = np.random.default_rng(3)
    lines = ["timestamp,asset_id,value"]
    for i in range(n):
        for k, asset in enumerate(("pump-b", "pump-a", "pump-c")):
            spike = 25 if 150 + 40 * k <= i < 155 + 40 * k else 0
            ts = (T0 + timedelta(minutes=5 * i)).strftime("%Y-%m-%d %H:%M:%S")
            lines.append(f"{ts},{asset},{10 + rng.normal(0, 0.5) + spike:.4f}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _events(path: Path) -> Path:
    """Failures of pump-a (twice) and pump-b; none of pump-c (its true RUL is null)."""
    rows = [(T0 + timedelta(minutes=5 * 200), "pump-a"), (T0 + timedelta(minutes=5 * 260), "pump-a"),
            (T0 + timedelta(minutes=5 * 280), "pump-b")]
    path.write_text("timestamp,asset_id,event\n" + "".join(f"{t.isoformat()},{a},failure\n" for t, a in rows))
    return path


@pytest.fixture
def small_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs of 97 rows, read 16 and written 50 at a time: every path of the merge is taken."""
    monkeypatch.setattr(scores_file, "RUN_ROWS", 97)
    monkeypatch.setattr(scores_file, "READ_ROWS", 16)
    monkeypatch.setattr(scores_file, "OUT_ROWS", 50)


@pytest.mark.usefixtures("small_runs")
def test_the_streamed_file_is_the_table_of_all_snapshots(tmp_path: Path) -> None:
    """A 3-asset backtest with alerts and failures, spilled in 10 runs: scores.parquet equals
    ``scores_table`` of the kept snapshots (rows, order, column types)."""
    (tmp_path / "bt.toml").write_text(CONFIG)
    res = backtest.run_backtest([_fleet_csv(tmp_path / "fleet.csv")], tmp_path / "out",
                                load_config(tmp_path / "bt.toml"), events=[_events(tmp_path / "events.csv")],
                                progress=False, report=False)
    expected = scores_table(res.snapshots, res.alerts, res.failures)
    got = pq.read_table(tmp_path / "out" / "scores.parquet")
    assert res.windows == len(res.snapshots) == 900 and got.num_rows == 900
    assert got.schema == expected.schema
    assert got.equals(expected)
    assert any(got.column("alert_active").to_pylist()) and got.column("true_rul").null_count < 900
    assert got.column("true_rul").null_count > 0  # pump-c, and pump-a after its last failure


def _snap(asset: str, minute: int, *, rul: float | None = None, defect: str | None = None,
          score: float = 0.5) -> TwinSnapshot:
    t = T0 + timedelta(minutes=minute)
    return TwinSnapshot(asset_id=asset, timestamp=t + timedelta(minutes=5), window_start=t,
                        condition="healthy", anomaly_score=score, health_index=0.9, rul_s=rul,
                        rul_lower_s=rul, rul_upper_s=None, drift=False, n_windows=minute, life_id=0,
                        defect=defect)


def _alert(asset: str, minute: int, status: str) -> Alert:
    snap = _snap(asset, minute)
    return Alert(alert_id=f"{asset}-1", asset_id=asset, timestamp=snap.timestamp, started_at=snap.timestamp,
                 status=status, severity="warning", sequence=0 if status == "raised" else 1, kind="anomaly",
                 anomaly_score=0.99, health_index=0.5, rul_s=None, top_features=(), explanation="x")


@pytest.mark.usefixtures("small_runs")
@pytest.mark.parametrize("case", ["empty", "types_differ_between_runs", "ties_across_runs", "no_truth"])
def test_edge_cases_match_the_in_memory_table(tmp_path: Path, case: str) -> None:
    """No window (every column null-typed); a column null in one run and float or int in another
    (one type, as inferred from all values); equal (asset, window start) keys in different runs
    (arrival order kept); failures all before the windows (true_rul null-typed)."""
    snaps: list[TwinSnapshot] = []
    failures: dict[str, list[datetime]] = {"a": [T0 + timedelta(days=30)]}
    if case == "types_differ_between_runs":
        snaps = [_snap("a", 5 * i, rul=None if i < 150 else (7 if i < 291 else 7.5),
                       defect=None if i < 120 else "bpfo") for i in range(300)]
    elif case == "ties_across_runs":
        snaps = [_snap("ab"[i % 2], 5 * (i // 40), score=i / 1000) for i in range(400)]
    elif case == "no_truth":
        snaps = [_snap("b", 5 * i) for i in range(250)]
        failures = {"a": [T0 - timedelta(days=1)], "b": [T0 - timedelta(days=2)]}
    alerts = [_alert("a", 50, "raised"), _alert("a", 400, "cleared")]
    with ScoresSpool() as spool:
        for i in range(0, len(snaps), 7):  # batches as a sink receives them
            spool.extend(snaps[i:i + 7])
        spool.write(tmp_path / "scores.parquet", alerts, failures)
    got = pq.read_table(tmp_path / "scores.parquet")
    expected = scores_table(snaps, alerts, failures)
    assert got.schema == expected.schema
    assert got.equals(expected)
    assert spool.windows == len(snaps)


def _alive_snapshots() -> int:
    gc.collect()
    return sum(isinstance(o, TwinSnapshot) for o in gc.get_objects())


@pytest.mark.parametrize(("cli", "kept"), [(True, False), (False, True)])
def test_twin_backtest_keeps_no_snapshot_until_the_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      cli: bool, kept: bool) -> None:
    """When alerts.parquet is built (after the dataflow and scores.parquet), how many window
    snapshots are alive: ``twin backtest`` (the CLI) none of its 900, an in-process
    ``run_backtest`` (keep_snapshots=True by default) all of them. Before round 39 the CLI kept all."""
    monkeypatch.setattr(scores_file, "RUN_ROWS", 100)
    csv = _fleet_csv(tmp_path / "fleet.csv")
    seen: list[int] = []
    held: list[int] = []
    alerts_schema = backtest.alerts_schema
    extend = ScoresSpool.extend

    def counting(self: ScoresSpool, snaps: Any) -> None:
        extend(self, snaps)
        held.append(len(self._rows))

    def spy() -> pa.Schema:
        seen.append(_alive_snapshots())
        return alerts_schema()

    monkeypatch.setattr(backtest, "alerts_schema", spy)
    monkeypatch.setattr(ScoresSpool, "extend", counting)
    (tmp_path / "bt.toml").write_text(CONFIG)
    before = _alive_snapshots()
    if cli:
        assert main(["backtest", str(csv), "--out", str(tmp_path / "out"), "--config",
                     str(tmp_path / "bt.toml"), "--no-progress", "--no-report"]) == 0
    else:
        res = backtest.run_backtest([csv], tmp_path / "out", load_config(tmp_path / "bt.toml"),
                                    progress=False, report=False)
        assert len(res.snapshots) == 900
    assert pq.read_metadata(tmp_path / "out" / "scores.parquet").num_rows == 900
    assert len(seen) == 1
    assert seen[0] - before == (900 if kept else 0)
    assert max(held) < 100  # the spool's own rows: one run at most, never the run's windows


def test_the_report_s_plots_and_rows_from_the_file_are_those_of_the_snapshots(tmp_path: Path) -> None:
    """The report reads its series back from scores.parquet: an asset's plot is byte-identical to
    the plot of its snapshots (the report before round 39), and so is its summary row."""
    (tmp_path / "bt.toml").write_text(CONFIG)
    res = backtest.run_backtest([_fleet_csv(tmp_path / "fleet.csv", n=200)], tmp_path / "out",
                                load_config(tmp_path / "bt.toml"),
                                events=[_events(tmp_path / "events.csv")], progress=False)
    series = dict(asset_series(tmp_path / "out" / "scores.parquet"))
    assert sorted(series) == ["pump-a", "pump-b", "pump-c"]
    for asset, rows in series.items():
        mine = sorted((s for s in res.snapshots if s.asset_id == asset), key=lambda s: s.window_start)
        old = plot_asset(mine, res.alerts, res.failures.get(asset, []), tmp_path / f"old-{asset}.png")
        assert old.read_bytes() == (tmp_path / "out" / "figures" / f"{asset}.png").read_bytes()
        raised = [a for a in res.alerts if a.asset_id == asset and a.status == "raised"]
        row = report_html._asset_row(asset, rows, raised, res.failures)
        assert row[:3] == [asset, str(len(mine)), str(len(raised))]
        assert row[4] == f"{min(s.health_index for s in mine):.2f}"
        assert row == report_html._asset_row(asset, mine, raised, res.failures)
    page = (tmp_path / "out" / "report.html").read_text()
    assert "3 assets, 600 windows" in page


def test_a_spill_that_cannot_be_written_is_one_line_naming_the_folder(tmp_path: Path) -> None:
    """The temporary folder is a file (or full): ``twin backtest`` says where it could not spill and
    that TMPDIR names the folder, in one line, exit 2 (not an internal error).

    Run in a process of its own, as the command runs: after a ``cluster_main`` run in the same
    process (the tests' two-worker flows), Bytewax prints a failing ``run_main``'s Python traceback
    to ``sys.stderr`` as well (checked with a bare map step raising; a CLI process runs one command,
    so no user sees it), and this test would fail or pass by the order of the tests."""
    not_a_folder = tmp_path / "tmp-file"
    not_a_folder.write_text("")
    (tmp_path / "bt.toml").write_text(CONFIG)
    csv = _fleet_csv(tmp_path / "fleet.csv", n=60)
    script = (
        "import sys, tempfile\n"
        "from flows.app import scores_file\n"
        "from flows.cli.main import main\n"
        "scores_file.RUN_ROWS = 100\n"  # spill after 100 windows (the file makes 180)
        f"tempfile.tempdir = {str(not_a_folder)!r}\n"
        f"sys.exit(main(['backtest', {str(csv)!r}, '--out', {str(tmp_path / 'out')!r}, "
        f"'--config', {str(tmp_path / 'bt.toml')!r}, '--no-progress', '--no-report']))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TWIN_DEBUG": ""})
    err = done.stderr
    assert done.returncode == 2, err
    assert f"cannot spill the scores' sorted windows to {not_a_folder}" in err and "TMPDIR" in err
    assert "internal error" not in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.usefixtures("small_runs")
def test_the_derived_columns_at_their_edges_and_the_row_groups(tmp_path: Path) -> None:
    """Round 41 computes ``alert_active`` and ``true_rul`` an asset's rows at a time on integer ticks:
    a failure at a window's very end (0 s), one given in another time zone, an episode raised at a
    window's end (open there) and cleared at another's (closed there), one never cleared, an asset
    with neither; the rows in groups of exactly OUT_ROWS, as before."""
    snaps = [_snap(a, 5 * i) for i in range(240) for a in ("a", "b", "c")]
    cest = timezone(timedelta(hours=2))
    failures = {"a": [T0 + timedelta(minutes=5 * 100 + 5)],  # the end of window 100
                "b": [(T0 + timedelta(minutes=5 * 77 + 3)).astimezone(cest), T0 + timedelta(days=3)]}
    alerts = [_alert("a", 5 * 20, "raised"), _alert("a", 5 * 30, "cleared"), _alert("b", 5 * 200, "raised")]
    with ScoresSpool() as spool:
        spool.extend(snaps)
        spool.write(tmp_path / "scores.parquet", alerts, failures)
    got = pq.read_table(tmp_path / "scores.parquet")
    assert got.equals(scores_table(snaps, alerts, failures))
    rows = {(r["asset_id"], r["window_start"]): r for r in got.to_pylist()}
    assert rows["a", T0 + timedelta(minutes=5 * 100)]["true_rul"] == 0.0
    assert rows["b", T0 + timedelta(minutes=5 * 76)]["true_rul"] == 180.0
    assert [rows["a", T0 + timedelta(minutes=5 * i)]["alert_active"] for i in (19, 20, 29, 30)] == \
        [False, True, True, False]
    assert rows["b", T0 + timedelta(minutes=5 * 239)]["alert_active"]
    assert not any(r["alert_active"] or r["true_rul"] is not None
                   for r in got.to_pylist() if r["asset_id"] == "c")
    meta = pq.ParquetFile(tmp_path / "scores.parquet").metadata
    assert [meta.row_group(g).num_rows for g in range(meta.num_row_groups)] == [50] * 14 + [20]

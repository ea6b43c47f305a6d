"""``twin_alert_episodes_open{kind}``: open alert episodes counted from the alert state, so a
resumed process counts the episodes its restored state holds and never goes below 0.

Before (round 30, USER30): Grafana's "Open alert episodes" was ``raised - cleared`` of
``twin_alerts_total``, counters that start at 0 with each process: an episode raised before a
restart and cleared after it showed -1."""

from __future__ import annotations

import contextlib
import io
import pickle
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flows.archive.query import query
from flows.cli.main import main
from flows.config.pipeline import load_config
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.open_episodes import sensor_open
from flows.dataflow.operators import alert_gate
from tests.unit.test_serde import make_snapshot
from twin_models.quality.gate import SensorAlerts

T0 = datetime(2024, 5, 1, tzinfo=UTC)
CFG = load_config(None)


def _snap(asset: str, i: int, bad: bool) -> object:
    t = T0 + timedelta(hours=i)
    return replace(make_snapshot(), asset_id=asset, timestamp=t + timedelta(hours=1), window_start=t,
                   life_id=1, anomaly_score=0.9999 if bad else 0.1,
                   condition="degrading" if bad else "healthy", defect=None, drift=False)


def _open(m: PipelineMetrics, kind: str = "condition") -> float:
    return m.value("twin_alert_episodes_open", {"kind": kind})


def _counter_panel(m: PipelineMetrics) -> float:
    """What the former panel showed: raised minus cleared messages of this process."""
    total = {s: sum(m.value("twin_alerts_total", {"status": s, "severity": sev, "kind": "condition"})
                    for sev in ("info", "warning", "critical")) for s in ("raised", "cleared")}
    return total["raised"] - total["cleared"]


def test_open_episodes_come_from_the_restored_state_after_a_resume() -> None:
    first = PipelineMetrics()
    step = alert_gate(CFG.alerts, first, lambda: T0)
    states: dict[str, object] = {}
    for i in range(4):
        for asset in ("p1", "p2"):
            states[asset], _ = step(states.get(asset), _snap(asset, i, bad=True))
    assert _open(first) == 2
    assert _counter_panel(first) == 2
    assert _open(first, "sensor") == 0  # the twin's kind not seen: no series yet, 0

    restored = {a: pickle.loads(pickle.dumps(s)) for a, s in states.items()}  # the recovery store
    second = PipelineMetrics()  # the resumed process: its registry starts empty
    step = alert_gate(CFG.alerts, second, lambda: T0)
    assert _open(second) == 0  # nothing seen yet
    seen = []
    for i in range(4, 14):  # p1 recovers: its episode clears after clear_windows good windows
        restored["p1"], alerts = step(restored["p1"], _snap("p1", i, bad=False))
        seen.append(_open(second))
    assert min(seen) == 0 and seen[0] == 1 and seen[-1] == 0
    assert _counter_panel(second) == -1  # the former panel: below zero
    restored["p2"], _ = step(restored["p2"], _snap("p2", 4, bad=True))
    assert _open(second) == 1  # p2's episode, raised before the restart, still open


def test_sensor_episodes_are_counted_from_the_twins_policy() -> None:
    class Twin:
        pass

    twin = Twin()
    assert sensor_open(twin) == 0
    policy = twin.sensor_alert_policy = SensorAlerts("a-1")  # type: ignore[attr-defined]
    policy.active[("vib", "flatline")] = object()  # type: ignore[assignment]
    policy.active[("temp", "drift")] = object()  # type: ignore[assignment]
    assert sensor_open(twin) == 2


def test_a_whole_run_ends_with_the_episodes_its_alerts_left_open(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 2-day demo with a sensor fault on every asset: at its end the gauge of each kind equals the
    alert ids of that kind whose last message was not ``cleared`` (both paths: the alert gate's
    condition episodes, the twin step's sensor episodes)."""
    made: list[PipelineMetrics] = []
    real = PipelineMetrics.from_config

    def keep(*args: Any, **kw: Any) -> PipelineMetrics:
        made.append(real(*args, **kw))
        return made[-1]

    monkeypatch.setattr(PipelineMetrics, "from_config", keep)
    out = tmp_path / "demo"
    argv = ["demo", "--assets", "8", "--days", "2", "--seed", "7", "--no-progress", "--json",
            "--sensor-faults", "1.0", "--out", str(out)]
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(argv) == 0
    _, rows = query(out, "SELECT kind, alert_id, arg_max(status, sequence) AS last FROM alerts GROUP BY ALL")
    left = {k: 0 for k in ("condition", "sensor")}
    raised = {k: 0 for k in ("condition", "sensor")}
    for kind, _aid, last in rows:
        raised[kind] += 1
        left[kind] += last != "cleared"
    assert left["sensor"] > 0 and left["condition"] > 0  # both paths end with episodes open (2 and 1)
    (m,) = made
    assert {k: _open(m, k) for k in left} == left


def test_a_resumed_process_counts_the_restored_open_episodes_before_any_item(tmp_path: Path) -> None:
    """Round 32 (HOSTILE32): after ``kill -9`` and a restart with no new input (over a real broker)
    the gauge said 0 while the restored state and the archive held an open episode: an asset counted
    from its first item in the process. Now from the states the recovery store's check unpickles."""
    import sqlite3

    from flows.dataflow.open_episodes import RestoredOpen
    from flows.dataflow.recovery_store import check_snapshots

    first = PipelineMetrics()
    step = alert_gate(CFG.alerts, first, lambda: T0)
    states: dict[str, object] = {}
    for i in range(4):
        for asset, bad in (("p1", True), ("p2", True), ("p3", False)):
            states[asset], _ = step(states.get(asset), _snap(asset, i, bad=bad))
    assert _open(first) == 2
    store = tmp_path / "rec"
    store.mkdir()
    with contextlib.closing(sqlite3.connect(store / "part-0.sqlite3")) as conn:
        conn.execute("CREATE TABLE snaps (step_id, state_key, snap_epoch, ser_change)")
        conn.executemany("INSERT INTO snaps VALUES (?, ?, ?, ?)",
                         [("twinflow.alert_gate.stateful.stateful_batch", a, 3, pickle.dumps(s))
                          for a, s in states.items()])
        conn.commit()
    restored = RestoredOpen("twinflow")
    check_snapshots(store, restored)
    second = PipelineMetrics()
    step = alert_gate(CFG.alerts, second, lambda: T0, restored_open=restored.by_step.get("alert_gate"))
    assert _open(second) == 2  # was 0 until each asset's next item
    p1 = pickle.loads(pickle.dumps(states["p1"]))
    seen = []
    for i in range(4, 14):  # p1 recovers: its episode clears, the count goes from 2 to 1, never below
        p1, _ = step(p1, _snap("p1", i, bad=False))
        seen.append(_open(second))
    assert seen[0] == 2 and seen[-1] == 1 and min(seen) == 1

"""``twin_alert_episodes_open{kind="sensor"}`` after a ``twin_update`` window that raised.

Round 32 (LOOSE32): the twin step observed the sensor-episode gauge right after the twin's
transition, before the code that may still raise (its metrics, the fleet items). When that code
raised, the guard dead-lettered the window and restored the twin from before it, but the gauge
kept the failed window's change until that asset's next window. It is now observed last, once
the step has succeeded (as ``expect_versions`` is since round 31)."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest

from flows.dataflow import operators
from flows.dataflow.guard import guard_stateful
from flows.dataflow.items import CheckedWindow, DeadLetter
from flows.dataflow.metrics import PipelineMetrics
from flows.dataflow.open_episodes import sensor_open
from flows.dataflow.operators import twin_apply, twin_update
from tests.factories import T0, feature_stream, metadata, windows
from tests.flows.conftest import CFG
from twin_models.quality import scalar_channel_stats

STUCK_FROM = 20  # the temperature channel reads 0 from this window on: a flatline episode opens


def _windows(n: int) -> list[CheckedWindow]:
    rng = np.random.default_rng(1)
    out = []
    for i, fv in enumerate(windows(feature_stream(n, seed=3))):
        t = fv.window_start.timestamp() + np.arange(0.0, 3600.0, 60.0)
        stuck = i >= STUCK_FROM
        temp = np.zeros(t.size) if stuck else 55 + rng.normal(0, 1.0, t.size)
        feats = {**fv.features, **({"temperature.mean": 0.0} if stuck else {})}
        quality = {"temperature": scalar_channel_stats(t, temp),
                   "speed": scalar_channel_stats(t, 24.6 + rng.normal(0, 0.1, t.size))}
        out.append(CheckedWindow(fv.asset_id, fv.window_start, fv.window_end, feats, fv.n_records,
                                 fv.events, fv.inputs, quality))
    return out


def _gauge(m: PipelineMetrics) -> float:
    return m.value("twin_alert_episodes_open", {"kind": "sensor"})


def test_a_window_that_raises_after_the_twin_moved_leaves_the_gauge_as_the_restored_twin(
        monkeypatch: pytest.MonkeyPatch) -> None:
    meta = {"pump-001": metadata()}
    cfg = CFG.twin
    m = PipelineMetrics()
    apply = twin_apply(meta, cfg)
    step = guard_stateful("twin_update", twin_update(meta, cfg, m, now=lambda: T0),
                          lambda s, x: apply(s, x)[0], lambda x: str(x.asset_id), m, lambda: T0,
                          on_drop=lambda _item: m.assets_tracked.dec())
    real = operators.observe_damage
    failing: set[Any] = set()

    def observe_damage(twin: Any, *args: Any) -> None:
        if twin.n_windows in failing:  # a metric that raises once the twin has moved
            msg = "a metric failed"
            raise RuntimeError(msg)
        real(twin, *args)

    monkeypatch.setattr(operators, "observe_damage", observe_damage)
    twin = None
    opened = None
    for i, fv in enumerate(_windows(40)):
        before = sensor_open(twin) if twin is not None else 0
        if opened is None:  # a dry run of the same window on a copy: does it open the episode?
            probe = apply(pickle.loads(pickle.dumps(twin)) if twin is not None else None, fv)[0]
            if sensor_open(probe) > before:
                opened = i
                failing.add(probe.n_windows)  # this window raises, after the twin has moved
        twin, out = step(twin, fv)
        if i == opened:
            assert [type(o) for o in out] == [DeadLetter]
            assert sensor_open(twin) == before == 0  # the guard restored the twin ...
            assert _gauge(m) == 0  # ... and the gauge with it (main: 1 until the next window)
            failing.clear()
        assert _gauge(m) == sensor_open(twin)
    assert opened is not None and opened >= STUCK_FROM
    assert _gauge(m) == sensor_open(twin) == 1  # the episode opened on the next window

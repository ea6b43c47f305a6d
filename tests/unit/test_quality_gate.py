"""Gating by data quality at the twin (issue 13): a bad channel neither teaches the baseline nor
raises a condition alert on its own, a real fault is still found from the other channels while a
channel is flatlined, and the sensor alerts are deduplicated episodes per (asset, channel, check)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from tests.factories import feature_stream, metadata, windows
from twin_models.alerting import AlertPolicy
from twin_models.quality import ChannelStats, scalar_channel_stats
from twin_models.quality.gate import annotate, gate_window, quality_step, sensor_alerts
from twin_models.records import Alert, FeatureVector
from twin_models.twin import AssetTwin

STUCK = 0.0  # a broken temperature transmitter reading 0


Window = tuple[FeatureVector, dict[str, ChannelStats]]


def _with_quality(fvs: list[FeatureVector], stuck_from: int | None, *, seed: int = 0) -> list[Window]:
    """The windows with their channels' stats (60 readings an hour each); from ``stuck_from`` the
    temperature channel is stuck at 0 (its features say so too)."""
    rng = np.random.default_rng(seed)
    out = []
    for i, fv in enumerate(fvs):
        t = fv.window_start.timestamp() + np.arange(0.0, 3600.0, 60.0)
        stuck = stuck_from is not None and i >= stuck_from
        temp = np.full(t.size, STUCK) if stuck else 55 + rng.normal(0, 1.0, t.size)
        feats = dict(fv.features)
        if stuck:
            feats["temperature.mean"] = STUCK
        quality = {"temperature": scalar_channel_stats(t, temp),
                   "speed": scalar_channel_stats(t, 24.6 + rng.normal(0, 0.1, t.size))}
        out.append((replace(fv, features=feats), quality))
    return out


def _run(fvs: list[Window], *, gated: bool = True) -> tuple[AssetTwin, list[Alert], list[Alert]]:
    """(twin, condition alerts, sensor alerts) over the windows, as the twin step runs them."""
    twin = AssetTwin(metadata())
    policy = AlertPolicy("pump-001")
    condition: list[Alert] = []
    sensor: list[Alert] = []
    for fv, quality in fvs:
        if gated:
            fv, states, _ = quality_step(twin, fv, quality)
            snap = annotate(twin.update(fv), states)
            sensor += sensor_alerts(twin, snap, states)
        else:
            snap = twin.update(fv)
        condition += policy.update(snap)
    return twin, condition, sensor


def _hour(a: Alert, fvs: list[Window]) -> int:
    return next(i for i, (fv, _) in enumerate(fvs) if fv.window_start == a.started_at)


def test_a_flatlined_channel_alone_raises_no_condition_alert_but_a_sensor_alert() -> None:
    fvs = _with_quality(windows(feature_stream(90, seed=3)), stuck_from=60)
    _, ungated, _ = _run(fvs, gated=False)
    assert [a for a in ungated if a.status == "raised"], "the stuck channel must alert without gating"
    _, condition, sensor = _run(fvs)
    assert condition == []
    raised = [a for a in sensor if a.status == "raised"]
    assert [(a.kind, a.channel, a.check, a.severity) for a in raised] == [
        ("sensor", "temperature", "flatline", "warning")]
    assert raised[0].started_at == fvs[60][0].window_start  # raised at the 2nd window, from the 1st
    assert "temperature" in raised[0].explanation and "flatline" in raised[0].explanation


def test_the_fault_is_found_from_the_other_channels_while_one_is_flatlined() -> None:
    fvs = _with_quality(windows(feature_stream(90, seed=3, fault_from=55)), stuck_from=50)
    _, condition, sensor = _run(fvs)
    raised = [a for a in condition if a.status == "raised"]
    assert raised, "the bearing fault must still be found"
    assert _hour(raised[0], fvs) >= 55  # by the fault, not by the stuck channel (stuck from 50)
    assert any(a.check == "flatline" and a.channel == "temperature" for a in sensor)
    assert all(name != "temperature.mean" for a in raised for name, _ in a.top_features)


def test_a_bad_channel_does_not_teach_the_baseline() -> None:
    fvs = _with_quality(windows(feature_stream(40, seed=1)), stuck_from=None)
    # the temperature is stuck in windows 14..19 only (the baseline is still being learnt: 24)
    fvs = [_with_quality([w[0]], stuck_from=0)[0] if 14 <= i < 20 else w for i, w in enumerate(fvs)]
    twin, _, _ = _run(fvs[:30])
    stats = twin.detector.stats  # type: ignore[attr-defined]
    assert stats.count("vib.rms") == 30
    # the six stuck windows come after ten learnt ones (the channel is known to be live): none teaches
    assert stats.count("temperature.mean") == 30 - 6
    assert abs(stats.mean_of("temperature.mean") - 55) < 1


def test_gate_masks_only_bad_channels_and_the_snapshot_carries_every_state() -> None:
    fv, quality = _with_quality(windows(feature_stream(1)), stuck_from=None)[0]
    twin = AssetTwin(metadata())
    gated, states, changed = quality_step(twin, fv, quality)
    assert gated is fv and [q.state for q in states] == ["ok", "ok"] and len(changed) == 2
    bad = replace(states[0], state="bad", check="flatline")
    masked = gate_window(fv, (bad, states[1]))
    assert np.isnan(masked.features["temperature.mean"])
    assert masked.features["speed.mean"] == fv.features["speed.mean"]
    assert masked.features["vib.rms"] == fv.features["vib.rms"]
    snap = annotate(twin.update(gated), states)
    assert snap.data_quality == (("temperature", "ok", ""), ("speed", "ok", ""))
    _, _, again = quality_step(twin, *_with_quality(windows(feature_stream(2)), stuck_from=None)[1])
    assert again == []  # the archive records changes only


def test_sensor_episode_clears_after_three_clean_windows_and_ids_are_deterministic() -> None:
    fvs = _with_quality(windows(feature_stream(40, seed=2)), stuck_from=None)
    fvs = [_with_quality([w[0]], stuck_from=0)[0] if 20 <= i < 24 else w for i, w in enumerate(fvs)]
    sensor = _run(fvs)[2]
    assert [a.status for a in sensor] == ["raised", "cleared"]
    assert len({a.alert_id for a in sensor}) == 1 and [a.sequence for a in sensor] == [1, 2]
    assert sensor[1].timestamp == fvs[26][0].window_end  # the third window without it
    assert sensor[0].started_at == fvs[20][0].window_start
    assert [a.alert_id for a in _run(fvs)[2]] == [a.alert_id for a in sensor]


def test_a_suspect_sensor_alert_says_why_its_values_are_kept_by_check() -> None:
    """Round 48 (USER48): a suspect drift (CUSUM past 15, not yet 45) said "its values are kept (a
    timing problem)", as a gap or clock does; a drift is no timing problem."""
    from datetime import timedelta

    from tests.factories import T0
    from twin_models.quality.gate import SensorAlerts
    from twin_models.records import ChannelQuality, TwinSnapshot

    said: dict[str, str] = {}
    for check in ("drift", "gap", "clock"):
        policy = SensorAlerts("pump-005")
        raised: list[Alert] = []
        for i in range(2):  # raised at the 2nd window in a row
            t = T0 + timedelta(hours=i)
            snap = TwinSnapshot(asset_id="pump-005", timestamp=t + timedelta(hours=1), window_start=t,
                                condition="healthy", anomaly_score=0.2, health_index=1.0, rul_s=None,
                                rul_lower_s=None, rul_upper_s=None, drift=False, n_windows=i, life_id=0)
            q = ChannelQuality("pump-005", "current", snap.timestamp, "suspect", check, "what it saw")
            raised += policy.update(snap, [q])
        assert [(a.status, a.severity, a.check) for a in raised] == [("raised", "info", check)]
        said[check] = raised[0].explanation
    assert "timing" not in said["drift"] and "until the drift is confirmed" in said["drift"]
    assert "a timing problem" in said["gap"] and "a timing problem" in said["clock"]

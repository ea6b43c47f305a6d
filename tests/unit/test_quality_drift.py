"""The drift check (issue 13, DQ2): a slow offset on one temperature or current that load, speed
and time of day do not explain is flagged (suspect, then bad); clean channels are not, nor a real
machine fault that moves several channels together (heat with current, vibration, a diagnosed
defect)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from twin_models.quality.drift import DriftTracker
from twin_models.quality.stats import ChannelStats, scalar_channel_stats

UNITS = {"temperature": "degC", "current": "A", "speed": "Hz", "load": "fraction", "vib": "g"}
HOUR = 3600.0


def _windows(n: int, seed: int, temp_off=lambda k: 0.0, cur_off=lambda k: 0.0, vib=lambda k: 1.0):  # type: ignore[no-untyped-def]
    """Hourly windows of 6 readings: load wanders, temperature follows load and the daily ambient,
    current follows load; ``*_off(k)`` adds an offset in window k."""
    rng = np.random.default_rng(seed)
    load = 0.6
    for k in range(n):
        load = float(np.clip(load + rng.normal(0, 0.05), 0.3, 1.0))
        t = k * HOUR + np.arange(6) * 600.0
        amb = 20.0 + 3.0 * np.sin(2 * math.pi * t / 86400.0)
        lv = load + rng.normal(0, 0.01, 6)
        cols = {
            "temperature": amb + 25.0 * lv + rng.normal(0, 0.2, 6) + temp_off(k),
            "current": 6.0 + 12.0 * lv + rng.normal(0, 0.1, 6) + cur_off(k),
            "speed": 24.5 + 0.5 * lv + rng.normal(0, 0.02, 6),
            "load": lv,
        }
        stats: dict[str, ChannelStats] = {c: scalar_channel_stats(t, v) for c, v in cols.items()}
        stats["vib"] = ChannelStats("waveform", 2, float(t[0]), float(t[-1]), spread=vib(k))
        yield (k + 1) * HOUR, stats


def _flags(windows, fault=lambda k: False):  # type: ignore[no-untyped-def]
    tracker, out = DriftTracker(UNITS), []
    for k, (end, stats) in enumerate(windows):
        found = tracker.update(end, stats, dict.fromkeys(stats, True), fault(k))
        for channel, (state, reason) in found.items():
            out.append((k, channel, state, reason))
    return out


def _ramp(start: int, length: int, size: float):  # type: ignore[no-untyped-def]
    return lambda k: 0.0 if k < start else size * min(1.0, (k - start) / length)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_clean_channels_are_not_flagged(seed: int) -> None:
    assert _flags(_windows(400, seed)) == []


@pytest.mark.parametrize(("channel", "size"), [("temperature", 4.0), ("current", -3.0)])
def test_a_slow_drift_is_flagged_suspect_then_bad(channel: str, size: float) -> None:
    ramp = _ramp(120, 72, size)
    kw = {"temp_off": ramp} if channel == "temperature" else {"cur_off": ramp}
    flags = _flags(_windows(260, 7, **kw))
    assert flags and {c for _, c, _, _ in flags} == {channel}
    assert flags[0][0] > 120 and flags[0][2] == "suspect" and "drift" in flags[0][3]
    assert any(state == "bad" for _, _, state, _ in flags)


def test_a_real_fault_moving_heat_and_current_together_is_not_drift() -> None:
    """Friction heats the housing more (in its residual sds) than it loads the motor."""
    flags = _flags(_windows(260, 8, temp_off=_ramp(120, 72, 8.0), cur_off=_ramp(120, 72, 0.6)))
    assert [f for f in flags if f[1] == "current"] == []


def test_heat_with_a_diagnosed_defect_or_louder_vibration_is_not_drift() -> None:
    heat = _ramp(120, 72, 5.0)
    assert _flags(_windows(260, 9, temp_off=heat), fault=lambda k: k >= 110) == []
    assert _flags(_windows(260, 9, temp_off=heat, vib=lambda k: 1.0 if k < 110 else 3.0)) == []
    assert _flags(_windows(260, 9, temp_off=heat))  # the same heat alone: flagged


def test_a_missing_regressor_is_not_a_drift() -> None:
    """A dropout of the load (the current's regressor) leaves the current unjudged (a model without
    its main input, fitted meanwhile, gave a false drift on seed 8's load dropout)."""
    tracker = DriftTracker({**UNITS, "temperature": "raw"})  # the current alone: no coupled channel
    flags, learnt = [], []
    for k, (end, stats) in enumerate(_windows(260, 11)):
        if 150 <= k < 170:
            stats = {c: st for c, st in stats.items() if c != "load"}
        flags += list(tracker.update(end, stats, dict.fromkeys(stats, True)))
        learnt.append(tracker.channels["current"].learnt if tracker.channels else 0)
    assert flags == []
    assert learnt[169] == learnt[149]  # nothing judged nor learnt without the load


def test_no_drift_verdict_while_the_coupled_channel_is_faulty() -> None:
    """A real fault raising the current while the temperature (its veto) is flatlined and gated."""
    tracker, flags = DriftTracker(UNITS), []
    cur = _ramp(120, 72, 0.6)
    for k, (end, stats) in enumerate(_windows(260, 12, temp_off=_ramp(120, 72, 8.0), cur_off=cur)):
        ok = dict.fromkeys(stats, True)
        ok["temperature"] = k < 110  # the temperature transmitter is stuck from window 110
        flags += list(tracker.update(end, stats, ok))
    assert "current" not in flags

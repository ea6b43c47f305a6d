"""The data-quality path in one walk (issue 10, round 21, part dqcol) gives what the per-check
code gave: every check called on its own for every channel (the reference below is the monitor,
the gate, the annotation, the change list and the sensor alerts as they were before the walk was
fused), window for window over streams that trip every check (NaN readings, flatlines, clipping,
spikes, gaps inside and across windows, missing channels, clock flags, sample rates, DC offsets,
a silent input, a drifting temperature), and after a snapshot restored mid-stream."""

from __future__ import annotations

import math
import pickle
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from twin_models.quality import checks as C
from twin_models.quality.checks import CHECKS, GAP_STEPS, Learnt, QualityLimits, limits_of
from twin_models.quality.clock import ClockSkew
from twin_models.quality.drift import DriftTracker
from twin_models.quality.gate import SensorAlerts, annotate, gate_window, quality_step
from twin_models.quality.monitor import QualityMonitor, WindowQuality
from twin_models.quality.stats import (
    ChannelStats,
    frame_quality,
    scalar_channel_stats,
    waveform_channel_stats,
    window_stats,
)
from twin_models.records import AssetMetadata, ChannelQuality, FeatureVector, SensorSpec, TwinSnapshot

T0 = datetime(2024, 3, 1, tzinfo=UTC)
WINDOW_S = 600.0
RANK = {"ok": 0, "suspect": 1, "bad": 2}
EVERY_CHECK = (C._flatline, C._clipping, C._spike, C._sample_rate, C._disconnect, C._gap, C._clock)


class _PerCheck:
    """The reference: every check called on its own for every channel, in three walks (checks,
    then states and learning, then the absent channels), states kept per window as ChannelQuality."""

    def __init__(self, meta: AssetMetadata) -> None:
        self.asset_id = meta.asset_id
        self.limits = {s.channel: limits_of(s) for s in meta.sensors}
        self.learnt: dict[str, Learnt] = {}
        self.states: dict[str, ChannelQuality] = {}
        self.drift = DriftTracker({s.channel: s.unit for s in meta.sensors})

    def step(self, end: datetime, quality: dict[str, Any], fault: bool
             ) -> tuple[tuple[ChannelQuality, ...], list[ChannelQuality]]:
        """(every channel's state, the changed ones) of a window's ``quality`` mapping."""
        before = dict(self.states)
        stats = {k: v for k, v in quality.items() if isinstance(v, ChannelStats)}
        skews = [v for v in quality.values() if isinstance(v, ClockSkew)]
        states = self.update(end, stats, skews, fault) if stats or skews else ()
        changed = [q for q in states if (old := before.get(q.channel)) is None
                   or old.state != q.state or old.check != q.check]
        return states, changed

    def update(self, end: datetime, stats: dict[str, ChannelStats], skews: list[ClockSkew],
               fault: bool) -> tuple[ChannelQuality, ...]:
        found_by = {}
        for channel, st in stats.items():
            learnt = self.learnt.setdefault(channel, Learnt())
            lim = self.limits.get(channel, QualityLimits())
            found_by[channel] = [hit for check in EVERY_CHECK if (hit := check(st, lim, learnt)) is not None]
        gaps = {c: self._gap_end(stats[c], self.learnt[c]) for c, found in found_by.items()
                if any(f[0] == "gap" for f in found)}
        for channel, gap_end in gaps.items():
            if not self._others_reported(channel, gap_end, stats, gaps):
                found_by[channel] = [f for f in found_by[channel] if f[0] != "gap"]
        if stats:
            ok = {c: not found for c, found in found_by.items()}
            for channel, (state, reason) in self.drift.update(end.timestamp(), stats, ok, fault).items():
                found_by[channel].append(("drift", state, reason))
        out = {}
        for channel, st in stats.items():
            learnt = self.learnt[channel]
            out[channel] = self._state(channel, end, found_by[channel])
            if channel in gaps or math.isnan(learnt.run_start):
                learnt.run_start = gaps.get(channel, st.first_t)
            learnt.last_t = st.last_t if math.isnan(learnt.last_t) else max(st.last_t, learnt.last_t)
            if not found_by[channel]:
                learnt.learn(st)
        for sk in skews:
            way, fate = (("ahead of", "kept out of the asset's clock (dead letters clock_skew)")
                         if sk.offset_s > 0 else ("behind", "late for their windows"))
            reason = (f"{sk.records} readings {abs(sk.offset_s) / 3600.0:.2f} h {way} the asset's other "
                      f"channels (clock jump): {fate}")
            out[sk.channel] = self._state(sk.channel, end, [("clock", "suspect", reason)])
        for channel, learnt in self.learnt.items():
            if channel in out or not stats:
                continue
            cadence = self.limits.get(channel, QualityLimits()).cadence_s or learnt.cadence_s
            silent = end.timestamp() - learnt.last_t
            if silent > GAP_STEPS * cadence and self._others_reported(channel, end.timestamp(), stats, gaps):
                reason = f"no reading for {silent:g} s (expected every {cadence:g} s)"
                out[channel] = self._state(channel, end, [("gap", "suspect", reason)])
                learnt.run_start = math.nan
        self.states.update(out)
        return tuple(out.values())

    @staticmethod
    def _gap_end(st: ChannelStats, learnt: Learnt) -> float:
        across = math.isfinite(learnt.last_t) and st.first_t - learnt.last_t >= st.max_dt
        return st.first_t if across else st.last_t

    def _others_reported(self, channel: str, end: float, stats: dict[str, ChannelStats],
                         gaps: dict[str, float]) -> bool:
        cadence = self.limits.get(channel, QualityLimits()).cadence_s or self.learnt[channel].cadence_s
        since = end - GAP_STEPS * cadence
        return any(o != channel and o not in gaps and self.learnt[o].run_start <= since for o in stats)

    def _state(self, channel: str, at: datetime, found: list[tuple[str, str, str]]) -> ChannelQuality:
        if not found:
            return ChannelQuality(self.asset_id, channel, at, "ok", "", "")
        worst = max(found, key=lambda f: RANK[f[1]])
        return ChannelQuality(self.asset_id, channel, at, worst[1], worst[0], worst[2])


META = AssetMetadata("a-1", sensors=(
    SensorSpec("temp", "scalar", "degC", limits=(-50.0, 200.0)),
    SensorSpec("current", "scalar", "A"),
    SensorSpec("load", "scalar", "%"),
    SensorSpec("press", "scalar", "bar", range=(0.0, 99.0)),
    SensorSpec("flow", "scalar", "m3/h", cadence_s=10.0),
    SensorSpec("vib", "waveform", "g")))
SCALARS = ("temp", "current", "load", "press", "flow", "level")
FS = 2048.0


def _scalar(i: int, rng: np.random.Generator, channel: str, drift: float) -> ChannelStats | None:
    """One 10-minute window of a scalar channel at 10 s, now and then faulty."""
    start = T0.timestamp() + WINDOW_S * i
    t = start + np.arange(0.0, WINDOW_S, 10.0)
    level = {"temp": 60.0 + drift, "current": 12.0, "load": 50.0}.get(channel, 20.0)
    v = level + rng.normal(0, 0.5, t.size)
    fate = int(rng.integers(0, 24 if i < 60 or i >= 200 else 600)) if i > 3 else 99  # quiet: the drift's
    if fate == 0:
        return None  # silent this window (a gap across windows, or the asset's)
    if fate == 1:
        t = t[t < start + 120.0]  # a gap inside the window, to its end
    elif fate == 2:
        t[5] = t[4]  # a repeated stamp
    elif fate == 3:
        v[:] = 20.0  # stuck
    elif fate == 4:
        t = t[:1]  # one reading
    elif fate == 5:
        v[7] = 1e6 if channel == "temp" else 99.0  # beyond the physical limit / at the range
    elif fate == 6:
        v[3] = math.nan  # a NaN reading
    elif fate == 7:
        v[:] = math.nan  # every reading NaN
    elif fate == 8:
        v[10] += 400.0  # an isolated spike
    elif fate == 9:
        v[::4] = v.max()  # flat-topped (clipping at the window's extreme)
    elif fate == 10:
        t = np.delete(t, np.s_[20:40])  # a gap inside the window, then readings again
    elif fate == 11:
        t = t - 3 * WINDOW_S  # stamped into the past (behind the last reading)
    elif fate == 12:
        t = t[:1] - 3 * WINDOW_S  # one reading, stamped into the past
    elif fate == 13:
        t, v[0] = t[:1], (1e6 if channel == "temp" else 99.0)  # one reading beyond the limit / at the range
    return scalar_channel_stats(t, v[: t.size])


def _vib(i: int, rng: np.random.Generator) -> ChannelStats:
    """Two frames a window of a vibration channel, now and then faulty."""
    fate = int(rng.integers(0, 14)) if i > 3 else 99
    n, fs = 2048, FS
    starts = [T0.timestamp() + WINDOW_S * i + k * 300.0 for k in range(2)]
    if fate == 5:
        starts[1] = starts[0] + 0.1  # overlapping frames
    x = rng.standard_normal((2, n)) * 0.3
    if fate == 0:
        x[1] = 0.25  # a flat frame
    elif fate == 1:
        x[0] = np.clip(x[0], -0.2, 0.2)  # railed
    elif fate == 2:
        x[1] += 5.0  # a DC offset
    elif fate == 3:
        x *= 1e-4  # silent input
    rows = np.concatenate([frame_quality(x[:1], fs), frame_quality(x[1:], fs * (1.05 if fate == 4 else 1.0))])
    return waveform_channel_stats(starts, rows.tolist())


def _quality(i: int, rng: np.random.Generator) -> dict[str, Any]:
    """The window's ``quality`` mapping as aggregate_window gives it (ChannelStats, then clock flags)."""
    if i % 41 == 40:
        return {}  # a window of nothing
    drift = 0.0 if i < 140 else 0.15 * (i - 140)  # the temperature sensor drifts from window 140
    out: dict[str, Any] = {}
    for channel in SCALARS:
        st = _scalar(i, rng, channel, drift)
        if st is not None:
            out[channel] = st
    if i % 17 != 9:
        out["vib"] = _vib(i, rng)
    if i % 23 == 5:
        out["level"] = ClockSkew("level", 7200.0, 3)  # a channel flagged instead of its stats
    if i % 29 == 7:
        out["ghost"] = ClockSkew("ghost", -7200.0, 2)  # a channel never seen otherwise
    return out


def _snap(end: datetime) -> TwinSnapshot:
    return TwinSnapshot("a-1", end, end - timedelta(seconds=WINDOW_S), "healthy", 0.25, 0.9, 3600.0,
                        1800.0, 7200.0, False, 12, 0)


def _features(quality: dict[str, Any]) -> dict[str, float]:
    return {f"{c}.{f}": float(k) for k, c in enumerate(quality) for f in ("mean", "std")} | {"hour": 1.0}


def _gated_reference(features: dict[str, float], states: tuple[ChannelQuality, ...]) -> dict[str, float]:
    bad = {q.channel for q in states if q.state == "bad"}
    return {k: (math.nan if k.split(".")[0] in bad and "." in k else v) for k, v in features.items()}


def _same(a: dict[str, float], b: dict[str, float]) -> bool:
    pairs = zip(a.values(), b.values(), strict=True)
    return list(a) == list(b) and all(x == y or (math.isnan(x) and math.isnan(y)) for x, y in pairs)


def _run(seed: int, windows: int = 260, restore_at: int | None = None) -> set[str]:
    """The stream through the one-walk path (quality_step, annotate, SensorAlerts) and through the
    reference, asserting every window's outputs equal; the checks seen."""
    rng = np.random.default_rng(seed)
    twin = SimpleNamespace(metadata=META, damage_state=None)
    ref, ref_alerts, alerts = _PerCheck(META), SensorAlerts("a-1"), SensorAlerts("a-1")
    seen: set[str] = set()
    for i in range(windows):
        end = T0 + timedelta(seconds=WINDOW_S * (i + 1))
        quality = _quality(i, rng)
        twin.damage_state = "bpfo" if i > 230 else None  # a machine fault: no temperature drift then
        if i == restore_at:  # a recovery snapshot, then the restored monitor goes on
            twin.quality_monitor = pickle.loads(pickle.dumps(twin.quality_monitor))
        fv = FeatureVector("a-1", end - timedelta(seconds=WINDOW_S), end, _features(quality))
        gated, states, changed = quality_step(twin, fv, quality)
        want, want_changed = ref.step(end, quality, i > 230)
        assert tuple(states) == want, i
        assert changed == want_changed, i
        assert _same(dict(gated.features), _gated_reference(fv.features, want)), i
        assert (gated is fv) == all(q.state != "bad" for q in want), i
        snap = _snap(end)
        assert annotate(snap, states).data_quality == (tuple((q.channel, q.state, q.check) for q in want)
                                                      if want else ())
        assert alerts.update(snap, states) == ref_alerts.update(snap, want), i
        monitor = twin.quality_monitor
        assert {c: (q.state, q.check) for c, q in monitor.states.items()} == \
            {c: (q.state, q.check) for c, q in ref.states.items()}, i
        assert repr(monitor.learnt) == repr(ref.learnt), i  # (NaN fields compare by their text)
        assert monitor.drift.channels.keys() == ref.drift.channels.keys()
        assert [(c.up, c.down, c.learnt) for c in monitor.drift.channels.values()] == \
            [(c.up, c.down, c.learnt) for c in ref.drift.channels.values()], i
        seen.update(q.check for q in want)
    return seen


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_one_walk_gives_the_per_check_verdicts_on_a_stream_tripping_every_check(seed: int) -> None:
    seen = _run(seed)
    assert set(CHECKS) <= seen  # every check fired (a check dropped from the walk would differ)


def test_a_monitor_restored_mid_stream_goes_on_as_the_reference() -> None:
    _run(3, windows=120, restore_at=60)


def test_a_monitor_pickled_by_the_previous_code_restores_and_goes_on() -> None:
    """The previous code kept every channel's ChannelQuality of every window in ``states`` (the
    reference's layout): the same attributes, so its snapshot restores as a QualityMonitor."""
    rng = np.random.default_rng(4)
    ref = _PerCheck(META)
    for i in range(80):
        ref.step(T0 + timedelta(seconds=WINDOW_S * (i + 1)), _quality(i, rng), False)
    old = QualityMonitor.__new__(QualityMonitor)
    old.__dict__.update(pickle.loads(pickle.dumps(ref.__dict__)))  # the state as main's pickle held it
    monitor = pickle.loads(pickle.dumps(old))
    for i in range(80, 140):
        end = T0 + timedelta(seconds=WINDOW_S * (i + 1))
        quality = _quality(i, rng)
        want, want_changed = ref.step(end, quality, False)
        got = monitor.judge(end, quality)
        assert tuple(got) == want and got.changed == want_changed, i


def test_unchanged_marks_are_handed_over_as_the_previous_windows_tuple() -> None:
    """An asset's marks equal to its last window's are that same tuple (the archive sink encodes
    each object once: :func:`flows.codec.json_columns.distinct_texts`); changed ones are new; a
    restored monitor goes on."""
    rng = np.random.default_rng(5)
    monitor = QualityMonitor(META)
    prev: tuple[tuple[str, str, str], ...] | None = None
    same = changed = 0
    for i in range(200):
        if i == 100:
            monitor = pickle.loads(pickle.dumps(monitor))
            prev = None
        marks = monitor.judge(T0 + timedelta(seconds=WINDOW_S * (i + 1)), _quality(i, rng)).marks
        if prev is not None and marks:
            if marks == prev:
                assert marks is prev, i
                same += 1
            else:
                changed += 1
        prev = marks
    assert same > 20 and changed > 20, (same, changed)


def test_window_quality_as_a_sequence() -> None:
    at = T0 + timedelta(hours=1)
    bad = ChannelQuality("a-1", "b", at, "bad", "flatline", "stuck")
    marks = (("a", "ok", ""), ("b", "bad", "flatline"), ("c", "ok", ""))
    wq = WindowQuality("a-1", at, marks, (bad,), ("b",), [])
    ok_a, ok_c = ChannelQuality("a-1", "a", at, "ok", "", ""), ChannelQuality("a-1", "c", at, "ok", "", "")
    assert len(wq) == 3 and list(wq) == [ok_a, bad, ok_c] and wq[1] is bad and wq[-1] == ok_c
    assert wq == (ok_a, bad, ok_c) and wq != (ok_a, bad)
    fv = FeatureVector("a-1", T0, at, {"a.mean": 1.0, "b.mean": 2.0, "bb.mean": 3.0, "c": 4.0})
    assert _same(dict(gate_window(fv, wq).features), dict(gate_window(fv, tuple(wq)).features))
    gated = gate_window(fv, wq).features
    assert math.isnan(gated["b.mean"]) and gated["bb.mean"] == 3.0 and gated["a.mean"] == 1.0
    assert annotate(_snap(at), wq) == annotate(_snap(at), tuple(wq))
    clean = WindowQuality("a-1", at, (("a", "ok", ""),), (), (), [])
    assert gate_window(fv, clean) is fv


def test_window_stats_builds_a_one_reading_window_as_scalar_channel_stats_does() -> None:
    values = [55.5, math.nan, math.inf, -math.inf, -0.0, 0.0, 1e300]
    times = T0.timestamp() + np.arange(len(values), dtype=np.float64)
    vals = np.array(values)
    scalars = {f"c{k}": (times[k:k + 1], vals[k:k + 1]) for k in range(len(values))}
    scalars["two"] = (times[:2], vals[:2])  # (not one reading: scalar_channel_stats itself)
    scalars["none"] = (times[:0], vals[:0])  # (no reading: no stats)
    got = window_stats(scalars, [])
    assert list(got) == [*(f"c{k}" for k in range(len(values))), "two"]
    for channel, st in got.items():
        want = scalar_channel_stats(*scalars[channel])
        assert type(st) is ChannelStats and repr(st) == repr(want), channel  # (NaN compares by its text)
        assert all(math.copysign(1.0, getattr(st, f)) == math.copysign(1.0, getattr(want, f))
                   for f in ("vmin", "vmax", "mean") if not math.isnan(getattr(want, f)))  # -0.0 kept

"""Each data-quality check fires on a faulty synthetic channel and stays silent on a clean one
(issue 13): scalar channels at one reading a minute, a vibration channel of two 4096-sample frames
a window, judged by one asset's QualityMonitor over hourly windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from twin_models.quality import QualityMonitor, frame_quality, scalar_channel_stats, waveform_channel_stats
from twin_models.quality.stats import ChannelStats
from twin_models.records import AssetMetadata, ChannelQuality, SensorSpec

T0 = datetime(2026, 1, 1, tzinfo=UTC)
WINDOW_S = 3600.0
FS = 25600.0
CLEAN = 12  # clean windows before the fault (MIN_LEARNT is 10)


def _scalar(i: int, rng: np.random.Generator, *, level: float = 55.0, sd: float = 0.5,
            cadence: float = 60.0) -> tuple[np.ndarray, np.ndarray]:
    t = T0.timestamp() + i * WINDOW_S + np.arange(0.0, WINDOW_S, cadence)
    return t, level + rng.normal(0.0, sd, t.size)


def _frames(i: int, rng: np.random.Generator, *, scale: float = 1.0, fs: float = FS,
            offset: float = 0.0, n: int = 4096) -> tuple[list[float], np.ndarray]:
    starts = [T0.timestamp() + i * WINDOW_S + k * 1800.0 for k in range(2)]
    t = np.arange(n) / fs
    x = np.stack([scale * (0.3 * rng.standard_normal(n) + 0.2 * np.sin(2 * np.pi * 24.6 * t)) + offset
                  for _ in starts]).astype(np.float32)
    return starts, frame_quality(x, fs)


def _stats(i: int, rng: np.random.Generator, **faults: object) -> dict[str, ChannelStats]:
    """One window: temperature, current (scalars) and vib (waveform); ``faults`` replace a channel's
    (times, values) or (starts, frame rows)."""
    out: dict[str, ChannelStats] = {}
    for channel, level in (("temperature", 55.0), ("current", 12.0)):
        t, v = faults.get(channel) or _scalar(i, rng, level=level)  # type: ignore[misc]
        if t is not None:
            out[channel] = scalar_channel_stats(np.asarray(t, float), np.asarray(v, float))
    starts, rows = faults.get("vib") or _frames(i, rng)  # type: ignore[misc]
    out["vib"] = waveform_channel_stats(starts, rows)
    return out


def _run(fault: dict[str, object] | None = None, *, meta: AssetMetadata | None = None,
         windows: int = 1, seed: int = 0, fault_of=None) -> list[tuple[ChannelQuality, ...]]:  # type: ignore[no-untyped-def]
    """States of the clean windows, then of ``windows`` faulty ones (``fault_of(i, rng)`` gives
    the faults of window i; ``fault`` the same every window)."""
    rng = np.random.default_rng(seed)
    monitor = QualityMonitor(meta or AssetMetadata("pump-1"))
    out = []
    for i in range(CLEAN + windows):
        faults = {} if i < CLEAN else (fault_of(i, rng) if fault_of else fault or {})
        end = T0 + timedelta(seconds=(i + 1) * WINDOW_S)
        out.append(monitor.update(end, _stats(i, rng, **faults)))
    return out


def _not_ok(states: tuple[ChannelQuality, ...]) -> dict[str, tuple[str, str]]:
    return {q.channel: (q.state, q.check) for q in states if q.state != "ok"}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_clean_channels_stay_ok_for_days(seed: int) -> None:
    states = _run(windows=72, seed=seed)
    assert all(not _not_ok(s) for s in states)


def test_flatline_of_a_live_scalar_is_bad() -> None:
    stuck = {"temperature": (_scalar(0, np.random.default_rng(0))[0], np.full(60, 55.21))}
    states = _run(fault_of=lambda i, rng: {"temperature": (stuck["temperature"][0] + (i * WINDOW_S),
                                                           stuck["temperature"][1])}, windows=2)
    assert _not_ok(states[CLEAN]) == {"temperature": ("bad", "flatline")}
    assert _not_ok(states[CLEAN + 1]) == {"temperature": ("bad", "flatline")}


def test_a_set_point_that_never_varied_is_not_a_flatline() -> None:
    rng = np.random.default_rng(0)
    monitor = QualityMonitor(AssetMetadata("pump-1"))
    for i in range(CLEAN + 5):
        t, _ = _scalar(i, rng)
        st = scalar_channel_stats(t, np.full(t.size, 50.0))
        assert monitor.update(T0 + timedelta(hours=i + 1), {"speed": st})[0].state == "ok"


def test_a_flat_vibration_frame_is_a_flatline() -> None:
    def fault(i: int, rng: np.random.Generator) -> dict[str, object]:
        starts, _ = _frames(i, rng)
        return {"vib": (starts, frame_quality(np.zeros((2, 4096), np.float32), FS))}
    assert _not_ok(_run(fault_of=fault)[-1]) == {"vib": ("bad", "flatline")}


def test_clipping_scalar_flat_topped_and_at_the_declared_range() -> None:
    def clipped(i: int, rng: np.random.Generator) -> dict[str, object]:
        t, v = _scalar(i, rng)
        return {"temperature": (t, np.minimum(v, 55.0))}  # half the readings at the ceiling
    assert _not_ok(_run(fault_of=clipped)[-1]) == {"temperature": ("bad", "clipping")}
    meta = AssetMetadata("pump-1", sensors=(SensorSpec("current", "scalar", "A", range=(0.0, 12.5)),))
    def at_range(i: int, rng: np.random.Generator) -> dict[str, object]:
        t, v = _scalar(i, rng, level=12.0)
        v[10] = 12.5
        return {"current": (t, v)}
    assert _not_ok(_run(fault_of=at_range, meta=meta)[-1]) == {"current": ("bad", "clipping")}


def test_railing_waveform_is_clipping() -> None:
    def railed(i: int, rng: np.random.Generator) -> dict[str, object]:
        starts, _ = _frames(i, rng)
        x = np.clip(0.3 * rng.standard_normal((2, 4096)), -0.45, 0.45).astype(np.float32)
        return {"vib": (starts, frame_quality(x, FS))}
    assert _not_ok(_run(fault_of=railed)[-1]) == {"vib": ("bad", "clipping")}


def test_isolated_spike_and_a_reading_beyond_physical_limits() -> None:
    def spike(i: int, rng: np.random.Generator) -> dict[str, object]:
        t, v = _scalar(i, rng)
        v[30] += 40.0  # 80 sd, one reading
        return {"temperature": (t, v)}
    assert _not_ok(_run(fault_of=spike)[-1]) == {"temperature": ("bad", "spike")}
    meta = AssetMetadata("pump-1", sensors=(SensorSpec("temperature", "scalar", "degC"),))
    def below_zero(i: int, rng: np.random.Generator) -> dict[str, object]:
        t, v = _scalar(i, rng)
        v[5] = -300.0  # below absolute zero: the unit's physical limit
        return {"temperature": (t, v)}
    assert _not_ok(_run(fault_of=below_zero, meta=meta, windows=1)[-1])["temperature"] == ("bad", "spike")


def test_a_real_step_in_level_is_not_a_spike() -> None:
    def step(i: int, rng: np.random.Generator) -> dict[str, object]:
        t, v = _scalar(i, rng)
        v[30:] += 40.0  # a change of state moves many readings
        return {"temperature": (t, v)}
    assert "temperature" not in _not_ok(_run(fault_of=step)[-1])


def test_dropout_of_one_channel_is_a_gap_but_a_silent_asset_is_not() -> None:
    def hole(i: int, rng: np.random.Generator) -> dict[str, object]:
        t, v = _scalar(i, rng)
        keep = (np.arange(t.size) < 20) | (np.arange(t.size) > 40)  # 20 readings missing
        return {"current": (t[keep], v[keep])}
    assert _not_ok(_run(fault_of=hole)[-1]) == {"current": ("suspect", "gap")}
    absent = _run({"current": (None, None)}, windows=2)  # the channel sends nothing at all
    assert _not_ok(absent[-1]) == {"current": ("suspect", "gap")}
    # every channel silent for half a day (a stopped asset), then back: no channel is flagged
    rng = np.random.default_rng(0)
    monitor = QualityMonitor(AssetMetadata("pump-1"))
    for i in [*range(CLEAN), *range(CLEAN + 12, CLEAN + 16)]:
        states = monitor.update(T0 + timedelta(seconds=(i + 1) * WINDOW_S), _stats(i, rng))
        assert not _not_ok(states), i


def test_repeated_timestamps_and_overlapping_frames_are_clock_problems() -> None:
    def repeated(i: int, rng: np.random.Generator) -> dict[str, object]:
        t, v = _scalar(i, rng)
        t[31:35] = t[30]  # the clock stood still
        return {"temperature": (t, v)}
    assert _not_ok(_run(fault_of=repeated)[-1]) == {"temperature": ("suspect", "clock")}
    def overlap(i: int, rng: np.random.Generator) -> dict[str, object]:
        starts, rows = _frames(i, rng)
        return {"vib": ([starts[0], starts[0] + 0.05], rows)}  # the 2nd starts inside the 1st (0.16 s)
    assert _not_ok(_run(fault_of=overlap)[-1]) == {"vib": ("suspect", "clock")}


def test_sample_rate_mismatch_learnt_and_declared() -> None:
    assert _not_ok(_run(fault_of=lambda i, rng: {"vib": _frames(i, rng, fs=12800.0)})[-1]) == {
        "vib": ("bad", "sample_rate")}
    meta = AssetMetadata("pump-1", sensors=(SensorSpec("vib", "waveform", "g", sample_rate_hz=20000.0),))
    assert _not_ok(_run(meta=meta, windows=0)[0]) == {"vib": ("bad", "sample_rate")}


def test_disconnect_near_zero_rms_and_dc_offset() -> None:
    silent = _run(fault_of=lambda i, rng: {"vib": _frames(i, rng, scale=1e-3)})
    assert _not_ok(silent[-1]) == {"vib": ("bad", "disconnect")}
    offset = _run(fault_of=lambda i, rng: {"vib": _frames(i, rng, offset=2.0)})
    assert _not_ok(offset[-1]) == {"vib": ("bad", "disconnect")}
    louder = _run(fault_of=lambda i, rng: {"vib": _frames(i, rng, scale=20.0)})  # a real fault
    assert not _not_ok(louder[-1])


def test_a_quiet_coarsely_quantised_signal_is_not_railing() -> None:
    """IMS's last files: ~1 LSB of noise repeats its extreme code in 4-37 % of the samples, but its
    tail thins out; a clipped one piles up at the rail."""
    rng = np.random.default_rng(0)
    quiet = (np.round(rng.normal(0.0, 1.3, (4, 20480))) * 0.00244).astype(np.float32)
    assert (frame_quality(quiet, 20000.0)[:, 2] < 0.01).all()  # RAIL_SHARE
    clipped = np.clip(np.round(rng.normal(0.0, 50.0, (4, 20480))), -75, 75).astype(np.float32)  # 1.5 sd
    assert (frame_quality(clipped, 20000.0)[:, 2] > 0.01).all()


class _OneReading:
    """A one-reading scalar window that fails on any figure a one-reading window cannot trip
    (flat, rail, spread, the sample rates): the checks must not look at them."""

    kind = "scalar"
    n = 1
    max_dt = 0.0
    duplicates = 0

    def __init__(self, t: float, v: float) -> None:
        self.first_t = self.last_t = t
        self.vmin = self.vmax = self.mean = v
        self.dev_top = self.dev_second = 0.0

    def __getattr__(self, name: str) -> object:
        msg = f"a one-reading window's checks read {name!r}"
        raise AssertionError(msg)


def test_a_one_reading_window_is_judged_by_its_limits_and_timing_only() -> None:
    """The C-MAPSS path: one reading per channel per window: neither the flatline, the rail, the
    spike's spread nor the waveform checks read it (they cannot fire), and the results are those
    of every check run in order (range and limits, then gap and clock)."""
    from twin_models.quality import checks  # noqa: PLC0415

    learnt = checks.Learnt(windows=20, varied=20, judged=20, cadence_s=10.0, spread=1.0, last_t=100.0)
    limits = [checks.QualityLimits(), checks.QualityLimits(range=(0.0, 50.0)),
              checks.QualityLimits(limits=(-10.0, 40.0)), checks.QualityLimits((0.0, 50.0), (-10.0, 60.0))]
    cases = [(110.0, 20.0), (110.0, 50.0), (110.0, 45.0), (100.0, -20.0), (200.0, 70.0), (90.0, 0.0)]
    seen = set()
    for lim in limits:
        for t, v in cases:
            found = checks.check_window(_OneReading(t, v), lim, learnt)  # type: ignore[arg-type]
            full = ChannelStats("scalar", 1, t, t, vmin=v, vmax=v, spread=0.0, mean=v)
            every = [hit for check in checks._ALL if (hit := check(full, lim, learnt)) is not None]
            assert found == every
            seen.update(f[0] for f in found)
    assert seen == {"clipping", "spike", "gap", "clock"}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("length", [8, 1000, 4095, 4096])
def test_rail_counts_by_words_are_count_nonzero(dtype: type, length: int) -> None:
    """Round 44 (PERF44): the rail counts are taken eight booleans at a time (rows of whole
    8-byte words; else ``count_nonzero``): the same integers as ``count_nonzero`` for rows with
    one, many, all or none of their samples at the value, and the rail share they give."""
    from twin_models.quality.stats import _count_equal

    rng = np.random.default_rng(length)
    x = rng.normal(0.0, 1.0, (7, length)).astype(dtype)
    x[1, : length // 2] = x[1].max() + 1.0  # a pile-up at the top
    x[2] = 3.0  # all equal
    x[3, ::3] = x[3].min()
    for v in (x.max(axis=1), x.min(axis=1), np.full(7, 99.0, dtype=dtype)):  # the last: none equal
        want = np.count_nonzero(x == v[:, None], axis=1)
        got = _count_equal(x, v)
        assert got.tolist() == want.tolist()
    rows = frame_quality(x, 1000.0)
    assert rows[2, 3] == 1.0  # flat
    if length > 8:  # 4 of 8 at the top is no pile-up (PILE_UP x the next level's 1)
        assert rows[1, 2] == (length // 2) / length

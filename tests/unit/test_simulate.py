"""Tests for the seeded physics-based fleet simulator (twin_models.simulator.fleet)."""

from __future__ import annotations

import inspect
import math
import tracemalloc
from datetime import datetime, timedelta

import numpy as np
import pytest

import twin_models.simulator.telemetry as telemetry
from twin_models.diagnosis.bearings import defect_frequencies
from twin_models.records import AssetEvent, ScalarSample, WaveformFrame
from twin_models.simulator.fleet import (
    FleetConfig,
    fleet_metadata,
    ground_truth,
    simulate_fleet,
    true_rul_s,
)
from twin_models.simulator.physics import (
    FAULT_KINDS,
    draw_asset_physics,
    equilibrium_c,
    expected_rms,
    ring_kernel,
    synth_frame,
    thermal_path,
)

SMALL = FleetConfig(n_assets=3, days=2.0, frame_len=512, fault_fraction=1.0)
LIFECYCLE = FleetConfig(n_assets=4, days=4.0, frame_len=256, fault_fraction=1.0,
                        downtime_s=6 * 3600.0)


def _rms(frame: WaveformFrame) -> float:
    return float(np.sqrt(np.mean(frame.samples.astype(np.float64) ** 2)))


def _envelope_ratio(x: np.ndarray, fs: float, freq: float) -> float:
    """Envelope-spectrum amplitude at ``freq`` over the median of 10-500 Hz (2-7 kHz band)."""
    spec = np.fft.fft(x - x.mean())
    f = np.fft.fftfreq(len(x), 1.0 / fs)
    spec[(f < 2000.0) | (f > 7000.0)] = 0.0  # keeps positive frequencies only: analytic signal
    env = np.abs(np.fft.ifft(2.0 * spec))
    amp = np.abs(np.fft.rfft((env - env.mean()) * np.hanning(len(env))))
    ff = np.fft.rfftfreq(len(env), 1.0 / fs)
    i = int(np.argmin(np.abs(ff - freq)))
    return float(amp[i - 2 : i + 3].max() / np.median(amp[(ff > 10.0) & (ff < 500.0)]))


def test_same_seed_same_records_including_waveform_bytes() -> None:
    first = [r for _, r in zip(range(400), simulate_fleet(SMALL), strict=False)]
    again = [r for _, r in zip(range(400), simulate_fleet(SMALL), strict=False)]
    assert first == again
    frames = [(a, b) for a, b in zip(first, again, strict=True)
              if isinstance(a, WaveformFrame) and isinstance(b, WaveformFrame)]
    assert frames and all(a.samples.tobytes() == b.samples.tobytes() for a, b in frames)


def test_different_seed_different_records() -> None:
    other = FleetConfig(n_assets=3, days=2.0, frame_len=512, fault_fraction=1.0, seed=8)
    a = [r for r in simulate_fleet(SMALL) if isinstance(r, WaveformFrame)][:5]
    b = [r for r in simulate_fleet(other) if isinstance(r, WaveformFrame)][:5]
    assert all(x.samples.tobytes() != y.samples.tobytes() for x, y in zip(a, b, strict=True))
    assert fleet_metadata(SMALL) != fleet_metadata(other)


def test_merged_stream_is_time_ordered_and_starts_with_installs() -> None:
    records = list(simulate_fleet(SMALL))
    stamps = [r.timestamp for r in records]
    assert all(a <= b for a, b in zip(stamps, stamps[1:], strict=False))
    assert {r.asset_id for r in records} == {"pump-001", "pump-002", "pump-003"}
    for aid in ("pump-001", "pump-002", "pump-003"):
        first = next(r for r in records if r.asset_id == aid)
        assert isinstance(first, AssetEvent) and first.kind == "install"
        assert first.timestamp == SMALL.start
    assert stamps[-1] < SMALL.start + timedelta(days=SMALL.days)


def test_ground_truth_agrees_with_emitted_events() -> None:
    records = list(simulate_fleet(LIFECYCLE))
    truths = ground_truth(LIFECYCLE)
    failed = [t for t in truths if t.failure_at is not None]
    assert failed, "the lifecycle config must produce at least one failure"
    end = LIFECYCLE.start + timedelta(days=LIFECYCLE.days)
    assert any(t.life_id == 1 for t in truths), "and at least one replacement"
    for life in failed:
        assert life.failure_at is not None
        mine = [r for r in records if r.asset_id == life.asset_id]
        events = [(e.timestamp, e.kind) for e in mine if isinstance(e, AssetEvent)]
        assert (life.failure_at, "failure") in events
        back = life.failure_at + timedelta(seconds=LIFECYCLE.downtime_s)
        later = [t.installed_at for t in truths if t.asset_id == life.asset_id and t.life_id == 1]
        if back < end:
            assert later == [back]
            assert events[-2:] == [(back, "maintenance"), (back, "install")]
        else:
            assert later == [] and events[-1] == (life.failure_at, "failure")
        down = [r for r in mine if life.failure_at < r.timestamp < back]
        assert down == []  # the machine is stopped: no telemetry while it is down
    n_failures = sum(isinstance(r, AssetEvent) and r.kind == "failure" for r in records)
    assert n_failures == len(failed)


def test_ground_truth_does_not_synthesise_waveforms(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = ground_truth(LIFECYCLE)

    def boom(*args: object, **kwargs: object) -> None:
        msg = "ground_truth synthesised a waveform"
        raise AssertionError(msg)

    monkeypatch.setattr(telemetry, "synth_frame", boom)
    assert ground_truth(LIFECYCLE) == expected
    with pytest.raises(AssertionError):
        next(r for r in simulate_fleet(LIFECYCLE) if isinstance(r, WaveformFrame))


def test_default_ground_truth_fault_share_and_durations() -> None:
    cfg = FleetConfig()
    truths = ground_truth(cfg)
    first = [t for t in truths if t.life_id == 0]
    faulty = [t for t in first if t.fault_kind is not None]
    assert len(first) == 8 and len(faulty) == 4
    assert {t.fault_kind for t in faulty} == set(FAULT_KINDS)
    for t in faulty:
        assert t.fault_onset is not None
        assert 0.2 * 30 <= (t.fault_onset - cfg.start).total_seconds() / 86400.0 <= 0.6 * 30
        if t.failure_at is not None:
            assert 2.5 <= (t.failure_at - t.fault_onset).total_seconds() / 86400.0 <= 13.0
    assert all(t.fault_kind is None and t.failure_at is None for t in truths if t.life_id == 1)


def test_true_rul_s() -> None:
    truths = ground_truth(LIFECYCLE)
    life = next(t for t in truths if t.failure_at is not None)
    assert life.failure_at is not None
    at = life.installed_at + timedelta(hours=3)
    assert true_rul_s(truths, life.asset_id, at) == pytest.approx(
        (life.failure_at - at).total_seconds()
    )
    assert true_rul_s(truths, life.asset_id, life.failure_at + timedelta(minutes=1)) == 0.0
    renewed = [t for t in truths if t.asset_id == life.asset_id and t.life_id == 1]
    if renewed:
        assert true_rul_s(truths, life.asset_id, renewed[0].installed_at) is None
    assert true_rul_s(truths, life.asset_id, LIFECYCLE.start - timedelta(hours=1)) is None
    with pytest.raises(ValueError, match="no ground truth"):
        true_rul_s(truths, "pump-999", at)
    with pytest.raises(ValueError, match="timezone-aware"):
        true_rul_s(truths, life.asset_id, datetime(2026, 1, 2))  # noqa: DTZ001


def test_envelope_shows_the_defect_frequency_and_healthy_does_not() -> None:
    cfg = FleetConfig(n_assets=4, days=4.0, frame_len=16384, fault_fraction=0.75,
                      frame_interval_s=3600.0)
    meta, truths = fleet_metadata(cfg), ground_truth(cfg)
    frames = [r for r in simulate_fleet(cfg) if isinstance(r, WaveformFrame)]
    healthy = next(t for t in truths if t.fault_kind is None)
    h_frame = next(f for f in frames if f.asset_id == healthy.asset_id)
    for life in (t for t in truths if t.fault_kind is not None and t.failure_at is not None):
        assert life.fault_onset is not None and life.failure_at is not None
        assert life.fault_kind is not None
        at = life.fault_onset + 0.8 * (life.failure_at - life.fault_onset)  # d ~ 0.3-0.5
        frame = min((f for f in frames if f.asset_id == life.asset_id and f.timestamp < at),
                    key=lambda f: abs(f.timestamp - at))
        x = frame.samples.astype(np.float64)
        bearing = meta[life.asset_id].bearing
        assert bearing is not None and frame.shaft_speed_hz is not None
        f = defect_frequencies(bearing, frame.shaft_speed_hz)
        lines = {"bpfo": f.bpfo, "bpfi": f.bpfi, "bsf": 2.0 * f.bsf}
        ratios = {k: _envelope_ratio(x, cfg.sample_rate_hz, v) for k, v in lines.items()}
        assert ratios[life.fault_kind] > 5.0, (life, ratios)
        assert ratios[life.fault_kind] == max(ratios.values())
        h = h_frame.samples.astype(np.float64)
        for freq in lines.values():
            assert _envelope_ratio(h, cfg.sample_rate_hz, freq) < 4.0


def test_rms_flat_then_rises_to_threshold_at_failure() -> None:
    cfg = FleetConfig(n_assets=1, days=4.0, frame_len=2048, frame_interval_s=600.0,
                      fault_fraction=1.0)
    life = ground_truth(cfg)[0]
    assert life.fault_onset is not None and life.failure_at is not None
    threshold = fleet_metadata(cfg)["pump-001"].failure_threshold
    assert threshold is not None and threshold.feature == "vib.rms"
    frames = [r for r in simulate_fleet(cfg)
              if isinstance(r, WaveformFrame) and r.timestamp < life.failure_at]
    rms = np.array([_rms(f) for f in frames])
    dur = (life.failure_at - life.fault_onset).total_seconds()
    frac = np.array([(f.timestamp - life.fault_onset).total_seconds() / dur for f in frames])
    baseline = float(np.median(rms[frac < 0.0]))
    assert baseline < 0.55 * threshold.value
    assert rms[(frac >= 0.0) & (frac < 0.5)].max() < 1.25 * baseline  # long flat period
    assert rms[-1] > 0.8 * threshold.value  # crosses roughly at failure ...
    assert frac[np.argmax(rms > 0.8 * threshold.value)] > 0.9  # ... and not much earlier


def test_failure_threshold_is_the_model_rms_at_damage_one() -> None:
    phys = draw_asset_physics(np.random.default_rng(3))
    rng, fs = np.random.default_rng(4), 25600.0
    kernel = ring_kernel(phys, fs)
    for kind in FAULT_KINDS:
        frames = [synth_frame(phys, kind=kind, damage=1.0, speed_hz=phys.nominal_hz, load=0.75,
                              n=4096, sample_rate_hz=fs, kernel=kernel, rng=rng)
                  for _ in range(10)]
        measured = np.mean([np.sqrt(np.mean(f.astype(np.float64) ** 2)) for f in frames])
        assert measured == pytest.approx(expected_rms(phys, 1.0, sample_rate_hz=fs), rel=0.05)
    assert expected_rms(phys, 1.0) > 1.8 * expected_rms(phys, 0.0)
    assert expected_rms(phys, 0.6) < 1.2 * expected_rms(phys, 0.0)


def test_thermal_model_rises_with_load_with_an_hours_time_constant() -> None:
    phys = draw_asset_physics(np.random.default_rng(5))
    amb, speed, zero = np.array([20.0]), np.array([phys.nominal_hz]), np.array([0.0])
    cool = float(equilibrium_c(phys, amb, np.array([0.5]), speed, zero)[0])
    hot = float(equilibrium_c(phys, amb, np.array([1.0]), speed, zero)[0])
    assert 20.0 < cool < hot - 5.0 and hot < 80.0
    steps = int(6 * 3600 / 60)
    temps, _ = thermal_path(phys, cool, np.full(steps, hot), 60.0)
    assert np.all(np.diff(temps) > 0.0)
    after_tau = temps[round(phys.tau_th_s / 60.0)]
    assert (after_tau - cool) / (hot - cool) == pytest.approx(1.0 - math.exp(-1.0), abs=0.02)
    assert 3600.0 <= phys.tau_th_s <= 4 * 3600.0


def test_scalar_streams_are_physical() -> None:
    cfg = FleetConfig(n_assets=2, days=3.0, frame_len=64, fault_fraction=0.0)
    by: dict[tuple[str, str], list[float]] = {}
    for r in simulate_fleet(cfg):
        if isinstance(r, ScalarSample):
            by.setdefault((r.asset_id, r.channel), []).append(r.value)
    meta = fleet_metadata(cfg)
    for aid in meta:
        temp, load = np.array(by[aid, "temperature"]), np.array(by[aid, "load"])
        current, speed = np.array(by[aid, "current"]), np.array(by[aid, "speed"])
        assert np.all((temp > 10.0) & (temp < 80.0)) and np.abs(np.diff(temp)).max() < 2.0
        assert np.all((load >= 0.45) & (load <= 1.05))
        assert np.corrcoef(load, current)[0, 1] > 0.9
        nominal = meta[aid].nominal_speed_hz
        assert nominal is not None and np.all(np.abs(speed / nominal - 1.0) < 0.035)


def test_memory_is_bounded_while_iterating() -> None:
    cfg = FleetConfig(n_assets=4, days=2.0, frame_len=2048, frame_interval_s=300.0)
    stream = simulate_fleet(cfg)
    assert inspect.isgenerator(stream)
    tracemalloc.start()
    try:
        n_frames = sum(isinstance(r, WaveformFrame) for r in stream)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    total_bytes = n_frames * cfg.frame_len * 4
    assert total_bytes > 15e6  # what holding every frame would cost ...
    assert peak < 4e6  # ... versus what iterating holds


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_assets": 0},
        {"days": -1.0},
        {"fault_fraction": 1.5},
        {"fault_mix": ("ftf",)},
        {"start": datetime(2026, 1, 1)},  # noqa: DTZ001
    ],
)
def test_config_validation(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        FleetConfig(**kwargs)  # type: ignore[arg-type]


def test_fleet_metadata() -> None:
    meta = fleet_metadata(FleetConfig())
    assert list(meta) == [f"pump-{i:03d}" for i in range(1, 9)]
    for aid, m in meta.items():
        assert m.asset_id == aid and m.resonance_band_hz is None and m.bearing is not None
        assert m.nominal_speed_hz is not None and abs(m.nominal_speed_hz / 24.6 - 1.0) <= 0.031
        assert {s.channel for s in m.sensors} == {"vib", "temperature", "current", "speed", "load"}
        assert m.failure_threshold is not None and 0.15 < m.failure_threshold.value < 0.6

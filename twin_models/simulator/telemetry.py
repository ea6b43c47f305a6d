"""One simulated asset's records: events, scalar readings and vibration frames, lazily.

The life plan (:class:`~twin_models.simulator.fleet._AssetPlan`) decides when the asset runs and
how its bearing wears; this module only adds the operating profile and noise. A plan's load cap
(:func:`~twin_models.simulator.actions.load_cap`) limits the true load before anything is
derived from it (speed, heat, current, vibration), so a derate shows in every channel.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator
from datetime import datetime, timedelta
from operator import attrgetter
from typing import TYPE_CHECKING

import numpy as np

from twin_models.diagnosis.bearings import DEFECT_COMPONENT
from twin_models.records import AssetEvent, ScalarSample, WaveformFrame
from twin_models.simulator.actions import load_cap
from twin_models.simulator.physics import (
    AssetPhysics,
    DamageCurve,
    ambient_c,
    current_a,
    equilibrium_c,
    load_profile,
    ring_kernel,
    speed_profile,
    synth_frame,
    thermal_path,
)

if TYPE_CHECKING:
    from twin_models.simulator.fleet import FleetConfig, SimRecord, _AssetPlan

__all__ = ["SCALARS", "asset_stream", "at", "day_offset_s"]

SCALARS = (("temperature", "degC"), ("current", "A"), ("speed", "Hz"), ("load", "fraction"))
_SCALAR_NOISE = np.array([0.05, 0.1, 0.02, 0.01])  # sensor noise, same order as SCALARS
_CHUNK = 256  # time steps computed at once (bounds memory)
_timestamp = attrgetter("timestamp")
_Segments = list[tuple[float, float, DamageCurve | None]]


def at(cfg: FleetConfig, t_s: float) -> datetime:
    """Run time (seconds since start) -> aware UTC datetime."""
    return cfg.start + timedelta(seconds=t_s)


def day_offset_s(cfg: FleetConfig) -> float:
    """Seconds from UTC midnight to the start of the run (drives the daily cycles)."""
    midnight = cfg.start.replace(hour=0, minute=0, second=0, microsecond=0)
    return (cfg.start - midnight).total_seconds()


def asset_stream(cfg: FleetConfig, plan: _AssetPlan) -> Iterator[SimRecord]:
    """One asset's events, scalars and frames in time order (events first on ties)."""
    first_end = plan.failure_s if plan.failure_s is not None else plan.replace_s
    segments: _Segments = [(0.0, cfg.end_s if first_end is None else first_end, plan.curve)]
    if plan.reinstall_s is not None:
        segments.append((plan.reinstall_s, cfg.end_s, None))
    return heapq.merge(
        _events(cfg, plan), _scalars(cfg, plan, segments), _frames(cfg, plan, segments),
        key=_timestamp,
    )


def _events(cfg: FleetConfig, plan: _AssetPlan) -> Iterator[AssetEvent]:
    """Install at the start; failure; maintenance + install after the downtime (after a failure
    or a planned replacement)."""
    yield AssetEvent(plan.asset_id, cfg.start, "install", "new bearing")
    if plan.failure_s is not None and plan.kind is not None:
        note = f"bearing failure: {DEFECT_COMPONENT[plan.kind]}"
        yield AssetEvent(plan.asset_id, at(cfg, plan.failure_s), "failure", note)
    if plan.reinstall_s is not None:
        when = at(cfg, plan.reinstall_s)
        why = "bearing replaced" if plan.failure_s is not None else "planned bearing replacement"
        yield AssetEvent(plan.asset_id, when, "maintenance", why)
        yield AssetEvent(plan.asset_id, when, "install", "new bearing")


def _chunks(start_s: float, end_s: float, step_s: float) -> Iterator[np.ndarray]:
    """Grid times ``k * step_s`` in ``[start_s, end_s)``, a chunk at a time."""
    first = math.ceil(start_s / step_s - 1e-9)
    stop = math.ceil(end_s / step_s - 1e-9)
    for lo in range(first, stop, _CHUNK):
        yield np.arange(lo, min(lo + _CHUNK, stop), dtype=np.float64) * step_s


def _operating(
    cfg: FleetConfig, plan: _AssetPlan, times: np.ndarray, curve: DamageCurve | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True load (under the plan's cap), shaft speed (Hz) and damage at ``times``."""
    load = load_profile(plan.phys, times, day_offset_s(cfg))
    if plan.action is not None and plan.action.load_fraction is not None:
        load = np.minimum(load, load_cap(plan.action, cfg.start, times))
    speed = speed_profile(plan.phys, times, load)
    damage = np.zeros_like(times) if curve is None else curve.damage_at(times)
    return load, speed, damage


def _scalar_chunk(
    cfg: FleetConfig, plan: _AssetPlan, times: np.ndarray, curve: DamageCurve | None,
    temp: float | None, rng: np.random.Generator,
) -> tuple[np.ndarray, float]:
    """Noisy readings (rows: times; columns: SCALARS) and the thermal state after the chunk."""
    phys = plan.phys
    load, speed, damage = _operating(cfg, plan, times, curve)
    ambient = ambient_c(phys, times, day_offset_s(cfg))
    t_eq = equilibrium_c(phys, ambient, load, speed, damage)
    start = float(t_eq[0]) if temp is None else temp  # the run starts in thermal equilibrium
    temps, temp_after = thermal_path(phys, start, t_eq, cfg.scalar_interval_s)
    clean = np.column_stack([temps, current_a(phys, load, damage), speed, load])
    values = clean + rng.standard_normal(clean.shape) * _SCALAR_NOISE
    values[:, 3] = np.clip(values[:, 3], 0.0, 1.2)
    return values, temp_after


def _cooled(cfg: FleetConfig, phys: AssetPhysics, temp: float, restart_s: float) -> float:
    """Housing temperature after cooling towards ambient over the downtime."""
    ambient = float(ambient_c(phys, np.array([restart_s]), day_offset_s(cfg))[0])
    return ambient + (temp - ambient) * math.exp(-cfg.downtime_s / phys.tau_th_s)


def _scalars(cfg: FleetConfig, plan: _AssetPlan, segments: _Segments) -> Iterator[ScalarSample]:
    """Temperature, current, speed and load readings; the machine cools while it is down."""
    rng = np.random.default_rng(plan.noise_seeds[0])
    temp: float | None = None
    for seg_start, seg_end, curve in segments:
        if temp is not None:
            temp = _cooled(cfg, plan.phys, temp, seg_start)
        for times in _chunks(seg_start, seg_end, cfg.scalar_interval_s):
            values, temp = _scalar_chunk(cfg, plan, times, curve, temp, rng)
            for t_s, row in zip(times.tolist(), values.tolist(), strict=True):
                ts = at(cfg, t_s)
                for (channel, unit), value in zip(SCALARS, row, strict=True):
                    yield ScalarSample(plan.asset_id, channel, ts, value, unit)


def _frames(cfg: FleetConfig, plan: _AssetPlan, segments: _Segments) -> Iterator[WaveformFrame]:
    """Vibration frames ``vib`` (g) with the tachometer speed."""
    rng = np.random.default_rng(plan.noise_seeds[1])
    kernel = ring_kernel(plan.phys, cfg.sample_rate_hz)
    for seg_start, seg_end, curve in segments:
        kind = plan.kind if curve is not None else None
        for times in _chunks(seg_start, seg_end, cfg.frame_interval_s):
            load, speed, damage = _operating(cfg, plan, times, curve)
            for t_s, lo, sp, d in zip(times.tolist(), load.tolist(), speed.tolist(),
                                      damage.tolist(), strict=True):
                samples = synth_frame(
                    plan.phys, kind=kind, damage=d, speed_hz=sp, load=lo, n=cfg.frame_len,
                    sample_rate_hz=cfg.sample_rate_hz, kernel=kernel, rng=rng,
                )
                yield WaveformFrame(plan.asset_id, "vib", at(cfg, t_s), cfg.sample_rate_hz,
                                    samples, shaft_speed_hz=sp, unit="g")

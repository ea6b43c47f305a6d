"""What a sensor fault does to one asset's records (see :mod:`.sensor_faults` for the kinds).

:func:`corrupted` wraps an asset's stream and yields ``(true time, record)`` pairs: the fleet
merges the assets on the true time, so a record whose timestamp a clock fault shifted still
arrives when it was really sent (the order a gateway would forward it in). A record is affected
when its channel has a fault and its true time is in the fault's ``[start, end)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from twin_models.records import AssetEvent, ScalarSample, WaveformFrame
from twin_models.simulator.sensor_faults import ALL_CHANNELS, ASSET_CLOCK, NEAR_ZERO_G, SensorFault
from twin_models.simulator.telemetry import SCALARS, at

if TYPE_CHECKING:
    from twin_models.simulator.fleet import FleetConfig, SimRecord

__all__ = ["corrupted"]


@dataclasses.dataclass(eq=False)
class _Active:
    """One fault with its true-time bounds and its running state (stuck value, noise)."""

    fault: SensorFault
    start: datetime
    end: datetime
    last_good: float | None = None
    rng: np.random.Generator | None = None


def corrupted(cfg: FleetConfig, records: Iterator[SimRecord],
              faults: Sequence[SensorFault]) -> Iterator[tuple[datetime, SimRecord]]:
    """``(true time, record)`` for every record of the asset, each under its channel's fault."""
    by_channel: dict[str, list[_Active]] = {}
    for f in faults:
        by_channel.setdefault(f.channel, []).append(_Active(f, at(cfg, f.start_s), at(cfg, f.end_s)))
    whole = by_channel.pop(ALL_CHANNELS, [])  # faults of every channel (asset_clock)
    for channel in {c for c, _ in SCALARS} | {"vib"}:
        by_channel[channel] = [*by_channel.get(channel, []), *whole]
    for rec in records:
        ts = rec.timestamp
        actives = None if isinstance(rec, AssetEvent) else by_channel.get(rec.channel)
        if not actives:
            yield ts, rec
            continue
        out: SimRecord | None = rec
        for act in actives:
            if out is None:
                break
            if act.start <= ts < act.end:
                out = _apply(act, out, ts)
            elif ts < act.start and isinstance(rec, ScalarSample):
                act.last_good = rec.value
        if out is not None:
            yield ts, out


def _apply(act: _Active, rec: SimRecord, ts: datetime) -> SimRecord | None:
    """The record as the faulty sensor reports it (``None``: nothing arrives)."""
    f = act.fault
    if f.kind in ("clock", ASSET_CLOCK):
        return dataclasses.replace(rec, timestamp=ts + timedelta(seconds=f.level))
    if f.kind == "dropout" and f.mode == "missing":
        return None
    if isinstance(rec, ScalarSample):
        return dataclasses.replace(rec, value=_scalar(act, rec.value, ts))
    if isinstance(rec, WaveformFrame):
        return dataclasses.replace(rec, samples=_waveform(act, rec.samples))
    return rec


def _scalar(act: _Active, value: float, ts: datetime) -> float:
    f = act.fault
    if f.kind == "flatline":
        if act.last_good is None:  # the run starts stuck: the first reading is the stuck one
            act.last_good = value
        return act.last_good
    if f.kind == "clipping":
        return min(value, f.level)
    if f.kind == "drift":
        frac = (ts - act.start).total_seconds() / (act.end - act.start).total_seconds()
        return value + f.level * frac
    msg = f"sensor fault {f.kind!r} does not apply to the scalar channel {f.channel!r}"
    raise ValueError(msg)


def _waveform(act: _Active, samples: np.ndarray) -> np.ndarray:
    f = act.fault
    if f.kind == "clipping":
        clipped: np.ndarray = np.clip(samples, -f.level, f.level).astype(np.float32)
        return clipped
    if f.kind == "dropout" and f.mode == "near_zero":
        if act.rng is None:
            act.rng = np.random.default_rng(f.noise_seed)
        noise: np.ndarray = (act.rng.standard_normal(len(samples)) * NEAR_ZERO_G).astype(np.float32)
        return noise
    if f.kind == "dropout" and f.mode == "railing":
        return np.full(len(samples), f.level, dtype=np.float32)
    msg = f"sensor fault {f.kind!r} ({f.mode}) does not apply to the waveform channel {f.channel!r}"
    raise ValueError(msg)

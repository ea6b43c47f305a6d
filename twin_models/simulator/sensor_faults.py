"""Sensor faults of the simulated fleet and their ground truth (issue 13).

A sensor fault corrupts what ONE channel of one asset reports, for a while; the machine itself
(its load, wear, heat, vibration) is unchanged. Kinds, what the channel then reports, and the
data-quality check(s) expected to see it (``SensorFaultTruth.checks``):

- ``flatline``: a scalar repeats its last good reading (a stuck transmitter, a frozen PLC tag)
  -> ``flatline``;
- ``clipping``: readings saturate at a range limit below the operating values: a scalar pinned
  at the channel's typical level (a mis-ranged transmitter: about half of the readings clip), or
  an accelerometer whose range is 1.2-2x the healthy frame RMS (samples beyond +-c g read +-c)
  -> ``clipping``;
- ``dropout``: a scalar sends nothing (-> ``gap``); the vibration channel sends no frames
  (-> ``gap``), or a disconnected accelerometer sends near-zero noise (1e-4 g, the ADC floor) or
  rails at +-50 g (a constant: the amplifier's rail) (-> ``disconnect``);
- ``drift``: temperature or current read an offset growing linearly from 0 to 3-10 degC /
  2-6 A over 2-5 days (RTD or current-transformer drift), gone after (recalibrated) -> ``drift``;
- ``clock``: the channel's timestamps are shifted by 0.5-4 h, forward or back, for 3-24 h (its
  logger's clock jumped, then was re-synchronised); the records still arrive in true-time order
  -> ``clock``;
- ``asset_clock`` (only when asked for: not in the default mix :data:`SENSOR_FAULT_KINDS`, so the
  demo's runs do not move): EVERY channel of the asset shifted together like ``clock`` (a gateway
  whose NTP went wrong; its life events, from another system, keep their time). Its channel is
  :data:`ALL_CHANNELS` and its ground truth is one ``clock`` record per channel, ``scope``
  ``asset``. Only the arrival time can show it (``twin run`` on Kafka: the check of
  :mod:`twin_models.quality.arrival`); a replay without arrival times cannot.

Which assets: ``round(sensor_fault_fraction * n_assets)`` faults, at most one per asset, taken
alternately from the assets without and with a bearing fault in their first life (without
first), each group in the order of a uniform draw; the kinds are ``sensor_fault_mix`` cycled to
that count, then shuffled over the picks. On an asset with a bearing fault the sensor fault
falls between the fault's onset and its failure (or the end of the run) on a SCALAR channel,
never on the vibration that reveals the bearing fault: the case where gating a bad channel must
still let the other channels find the real fault.

Randomness: asset ``i``'s sensor-fault stream is ``SeedSequence(seed, spawn_key=(i, 4))``, the
fifth child of the asset's root (the simulator spawns four: :func:`fleet._seeds`), and the kind
shuffle uses ``SeedSequence(seed, spawn_key=(n_assets,))``, a sibling of the asset roots; no
existing draw moves, so with no sensor fault the telemetry is bit for bit what it was. Placement
uses the life plan WITHOUT ``FleetConfig.plans``, so a followed plan keeps the same sensor faults.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

from twin_models.simulator.physics import (
    LOAD_MEAN,
    AssetPhysics,
    current_a,
    equilibrium_c,
    expected_rms,
)
from twin_models.simulator.telemetry import SCALARS, at

if TYPE_CHECKING:
    from twin_models.simulator.fleet import FleetConfig

__all__ = [
    "ALL_CHANNELS",
    "ASSET_CLOCK",
    "OPTIONAL_KINDS",
    "SENSOR_FAULT_KINDS",
    "AssetFacts",
    "SensorFault",
    "SensorFaultTruth",
    "plan_sensor_faults",
]

SENSOR_FAULT_KINDS: tuple[str, ...] = ("flatline", "clipping", "dropout", "drift", "clock")
ASSET_CLOCK = "asset_clock"
OPTIONAL_KINDS: tuple[str, ...] = (ASSET_CLOCK,)
"""Kinds a ``sensor_fault_mix`` may name besides the default ones."""
ALL_CHANNELS = "*"
"""The channel of a fault of the whole asset (``asset_clock``)."""
VIB = "vib"
SCALAR_CHANNELS = tuple(c for c, _ in SCALARS)
_CHANNELS = {  # where each kind can happen (a tachometer or a computed load does not drift)
    "flatline": SCALAR_CHANNELS,
    "clipping": (VIB, *SCALAR_CHANNELS),
    "dropout": (VIB, *SCALAR_CHANNELS),
    "drift": ("temperature", "current"),
    "clock": (VIB, *SCALAR_CHANNELS),
    ASSET_CLOCK: (ALL_CHANNELS,),
}
_HOURS = {  # duration range of each kind (h)
    "flatline": (6.0, 36.0), "clipping": (12.0, 48.0), "dropout": (2.0, 24.0),
    "drift": (48.0, 120.0), "clock": (3.0, 24.0), ASSET_CLOCK: (3.0, 24.0),
}
_DRIFT_SIZE = {"temperature": (3.0, 10.0), "current": (2.0, 6.0)}  # full offset at the end
_CLOCK_SHIFT_H = (0.5, 4.0)
_VIB_CLIP_RMS = (1.2, 2.0)  # accelerometer range as multiples of the healthy frame RMS
NEAR_ZERO_G = 1e-4  # a disconnected accelerometer: the ADC's noise floor
RAIL_G = 50.0  # a railing accelerometer: the full scale of a +-50 g sensor
_HEALTHY_SPAN = (0.1, 0.9)  # sensor faults of healthy assets fall in this part of the run
_STREAM = 4  # asset root child index of the sensor-fault stream (the simulator uses 0-3)


@dataclass(frozen=True, slots=True)
class AssetFacts:
    """What placement needs of one asset: its physics and its bearing fault's window (run s)."""

    asset_id: str
    index: int
    phys: AssetPhysics
    fault_window_s: tuple[float, float] | None  # onset -> failure (or end of run)


@dataclass(frozen=True, slots=True)
class SensorFault:
    """One planned sensor fault: what it does to which channel between ``start_s`` and ``end_s``.

    ``mode`` refines dropout on the vibration channel (``missing``, ``near_zero``, ``railing``);
    ``level`` is the stuck-value source (unused: the last good reading), the clip level, the
    drift's full offset or the clock shift in seconds, by kind.
    """

    asset_id: str
    channel: str
    kind: str
    start_s: float
    end_s: float
    mode: str
    level: float
    unit: str
    during_machine_fault: bool
    noise_seed: np.random.SeedSequence

    @property
    def checks(self) -> tuple[str, ...]:
        """The data-quality check(s) expected to see this fault."""
        if self.kind == "dropout":
            return ("disconnect",) if self.mode in ("near_zero", "railing") else ("gap",)
        if self.kind == ASSET_CLOCK:
            return ("clock",)
        return (self.kind,)

    def detail(self) -> str:
        """What the channel reported, in words."""
        u = self.unit
        text = {
            "flatline": "stuck at its last good reading",
            "clipping": f"clipped at {'+-' if self.channel == VIB else ''}{self.level:.3g} {u}",
            "drift": f"offset growing to {self.level:+.3g} {u}",
            "clock": f"timestamps shifted {self.level / 3600.0:+.2f} h",
            ASSET_CLOCK: f"every channel's timestamps shifted {self.level / 3600.0:+.2f} h (asset clock)",
        }.get(self.kind)
        if text is None:
            text = {"missing": "no readings", "near_zero": f"near-zero signal ({NEAR_ZERO_G:g} g)",
                    "railing": f"railing at {self.level:+g} {u}"}[self.mode]
        return text

    def truth(self, cfg: FleetConfig) -> SensorFaultTruth:
        """This fault's ground truth record (see :meth:`truths` for a fault of the whole asset)."""
        return SensorFaultTruth(self.asset_id, self.channel, self.kind, at(cfg, self.start_s),
                                at(cfg, self.end_s), self.checks, self.detail(),
                                self.during_machine_fault)

    def truths(self, cfg: FleetConfig) -> list[SensorFaultTruth]:
        """Its ground truth per channel: one record, or for ``asset_clock`` a ``clock`` record
        (scope ``asset``) for every channel of the asset."""
        one = self.truth(cfg)
        if self.channel != ALL_CHANNELS:
            return [one]
        return [dataclasses.replace(one, channel=c, kind="clock", scope="asset")
                for c in (VIB, *SCALAR_CHANNELS)]


@dataclass(frozen=True)
class SensorFaultTruth:
    """Ground truth of one sensor fault: asset, channel, kind, [start, end) in true time, the
    check(s) expected to see it, what the channel reported, and whether the machine had a real
    bearing fault then (the sensor fault's channel is then never the vibration)."""

    asset_id: str
    channel: str
    kind: str
    start: datetime
    end: datetime
    checks: tuple[str, ...]
    detail: str
    during_machine_fault: bool
    scope: str = "channel"  # "asset": one of the records of a fault of the whole asset


def _units() -> dict[str, str]:
    return {VIB: "g", **dict(SCALARS)}


def _typical(phys: AssetPhysics, channel: str) -> float:
    """The channel's level at mean load, nominal speed, mean ambient, no damage (a clip level
    about half of the healthy readings exceed)."""
    one = np.ones(1)
    level = {
        "temperature": lambda: equilibrium_c(phys, one * phys.ambient_mean_c, one * LOAD_MEAN,
                                             one * phys.nominal_hz, one * 0.0),
        "current": lambda: current_a(phys, one * LOAD_MEAN, one * 0.0),
        "speed": lambda: one * phys.nominal_hz,
        "load": lambda: one * LOAD_MEAN,
    }[channel]()
    return round(float(level[0]), 2)


def _lerp(bounds: tuple[float, float], u: float) -> float:
    return bounds[0] + (bounds[1] - bounds[0]) * u


def _fault(cfg: FleetConfig, facts: AssetFacts, kind: str) -> SensorFault:
    """Place fault ``kind`` on the asset from its own stream (eight uniforms, always drawn)."""
    root = np.random.SeedSequence(cfg.seed, spawn_key=(facts.index, _STREAM))
    u = np.random.default_rng(root).uniform(size=8)  # u[0] ranked the asset (in picks)
    faulty = facts.fault_window_s is not None
    channels = tuple(c for c in _CHANNELS[kind] if not faulty or c != VIB)
    channel = channels[min(int(u[1] * len(channels)), len(channels) - 1)]
    lo, hi = facts.fault_window_s or (cfg.end_s * _HEALTHY_SPAN[0], cfg.end_s * _HEALTHY_SPAN[1])
    duration = float(round(min(_lerp(_HOURS[kind], float(u[2])) * 3600.0, 0.8 * (hi - lo))))
    start = float(round(lo + (hi - lo - duration) * float(u[3])))  # whole seconds
    sign = 1.0 if u[4] < 0.5 else -1.0
    mode, level = "", math.nan
    if kind == "clipping":
        level = (_lerp(_VIB_CLIP_RMS, float(u[5])) * expected_rms(facts.phys, 0.0)
                 if channel == VIB else _typical(facts.phys, channel))
        level = round(level, 3)
    elif kind == "dropout":
        mode = ("missing", "near_zero", "railing")[min(int(u[5] * 3), 2)] if channel == VIB else "missing"
        level = sign * RAIL_G if mode == "railing" else math.nan
    elif kind == "drift":
        level = round(sign * _lerp(_DRIFT_SIZE[channel], float(u[5])), 2)
    elif kind in ("clock", ASSET_CLOCK):
        level = round(sign * _lerp(_CLOCK_SHIFT_H, float(u[5])) * 3600.0)
    return SensorFault(facts.asset_id, channel, kind, start, start + duration, mode, level,
                       _units().get(channel, "s"), faulty, root.spawn(1)[0])


def _picks(cfg: FleetConfig, assets: Sequence[AssetFacts]) -> list[AssetFacts]:
    """The assets that get a sensor fault, alternately without and with a bearing fault."""
    def rank(f: AssetFacts) -> float:
        seq = np.random.SeedSequence(cfg.seed, spawn_key=(f.index, _STREAM))
        return float(np.random.default_rng(seq).uniform(size=8)[0])

    healthy = sorted((a for a in assets if a.fault_window_s is None), key=rank)
    faulty = sorted((a for a in assets if a.fault_window_s is not None), key=rank)
    order: list[AssetFacts] = []
    for i in range(max(len(healthy), len(faulty))):
        order += [g[i] for g in (healthy, faulty) if i < len(g)]
    n = math.floor(cfg.sensor_fault_fraction * cfg.n_assets + 0.5)
    return order[:n]


def plan_sensor_faults(cfg: FleetConfig, assets: Sequence[AssetFacts]) -> list[SensorFault]:
    """Every sensor fault of the run, in asset order (empty when the fraction is 0)."""
    picks = _picks(cfg, assets)
    if not picks:
        return []
    kinds = [cfg.sensor_fault_mix[k % len(cfg.sensor_fault_mix)] for k in range(len(picks))]
    shuffle = np.random.default_rng(np.random.SeedSequence(cfg.seed, spawn_key=(cfg.n_assets,)))
    order = shuffle.permutation(len(kinds)).tolist()
    faults = [_fault(cfg, facts, kinds[j]) for facts, j in zip(picks, order, strict=True)]
    return sorted(faults, key=lambda f: f.asset_id)

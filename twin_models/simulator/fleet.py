"""Seeded physics-based fleet simulator: the embedded default data source of twinflow.

Pure (numpy only, no I/O, no environment) and lazy: :func:`simulate_fleet` yields every asset's
records merged in non-decreasing event-time order, holding only a few chunks in memory. The
physics lives in :mod:`twin_models.simulator.physics`.

Randomness: ``SeedSequence(cfg.seed).spawn(n_assets)[i]`` is asset ``i``'s root; it spawns four
independent streams: physical parameters, life plan (fault ranking, onset, duration, damage law),
scalar noise and waveform noise. :func:`ground_truth` uses only the first two, so it never
synthesises a waveform and still agrees with :func:`simulate_fleet`. Sensor faults
(``sensor_fault_fraction``, off by default; :mod:`.sensor_faults`) draw from a fifth child of the
asset's root that nothing else uses, so every draw above is the same with or without them, and
:func:`sensor_fault_truth` is their ground truth.

Life plan: every asset draws ``u ~ U(0, 1)``; the ``round(fault_fraction * n_assets)`` assets with
the smallest ``u`` develop a bearing fault in their first life, kinds cycling through
``cfg.fault_mix`` in that order. Onset is uniform in 20-60 % of the run and the onset-to-failure
duration uniform in 10-40 % of the run (3-12 days for the default 30 days), so most faults fail
within the run (a fault whose failure falls after the end simply has ``failure_at=None``). After a
failure the machine is stopped and isolated for ``downtime_s`` (no telemetry), then a
``maintenance`` and an ``install`` event start life 1 with a new bearing, which stays healthy for
the rest of the run (a new bearing's rating life far exceeds the run). Healthy assets never
degrade.

Plans: ``cfg.plans`` holds at most one :class:`~twin_models.simulator.actions.PlanAction` per
asset. A load limit caps the true load in its window (and so speed, heat, current and vibration);
the damage follows the capped Paris law, which moves the failure (or past the end of the run). A
replacement before the failure stops the machine, and after ``downtime_s`` a ``maintenance`` and
an ``install`` event start life 1, as after a failure. Without plans the records are those of
the unplanned run, bit for bit.
"""

from __future__ import annotations

import dataclasses
import heapq
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import attrgetter, itemgetter

import numpy as np

from twin_models.records import (
    AssetEvent,
    AssetMetadata,
    FailureThreshold,
    ScalarSample,
    SensorSpec,
    WaveformFrame,
    ensure_utc,
)
from twin_models.simulator.actions import PlanAction, capped_curve, load_cap, run_s
from twin_models.simulator.physics import (
    FAULT_KINDS,
    AssetPhysics,
    DamageCurve,
    build_damage_curve,
    draw_asset_physics,
    expected_rms,
    load_profile,
)
from twin_models.simulator.sensor_effects import corrupted
from twin_models.simulator.sensor_faults import (
    OPTIONAL_KINDS,
    SENSOR_FAULT_KINDS,
    AssetFacts,
    SensorFault,
    SensorFaultTruth,
    plan_sensor_faults,
)
from twin_models.simulator.telemetry import SCALARS, asset_stream
from twin_models.simulator.telemetry import at as _at
from twin_models.simulator.telemetry import day_offset_s as _day_offset_s

__all__ = [
    "FleetConfig",
    "LifeTruth",
    "SimRecord",
    "fleet_metadata",
    "ground_truth",
    "sensor_fault_truth",
    "sensor_faults",
    "simulate_fleet",
    "true_rul_s",
]

SimRecord = ScalarSample | WaveformFrame | AssetEvent
DAY_S = 86400.0
ONSET_RANGE = (0.2, 0.6)  # fraction of the run
DURATION_RANGE = (0.1, 0.4)  # onset to failure, fraction of the run
LAW_Q_RANGE = (1.5, 2.0)  # Paris-law exponent on damage
LAW_D0_RANGE = (0.15, 0.25)  # initial flaw size (damage units)
SENSORS: tuple[SensorSpec, ...] = (
    SensorSpec("vib", "waveform", "g"),
    *(SensorSpec(channel, "scalar", unit) for channel, unit in SCALARS),
)
_timestamp = attrgetter("timestamp")
_first = itemgetter(0)


@dataclass(frozen=True)
class FleetConfig:
    """What to simulate: fleet size, run length, seed, sampling and fault mix."""

    n_assets: int = 8
    days: float = 30.0
    seed: int = 7
    start: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    sample_rate_hz: float = 25600.0
    frame_len: int = 4096
    frame_interval_s: float = 1800.0  # one vibration frame per asset every 30 min
    scalar_interval_s: float = 600.0  # scalar readings every 10 min (live use sets 1 s)
    fault_fraction: float = 0.5  # share of assets that develop a bearing fault within the run
    fault_mix: tuple[str, ...] = ("bpfo", "bpfi", "bsf")
    downtime_s: float = 12 * 3600.0  # failure -> replacement (maintenance + install events)
    plans: tuple[PlanAction, ...] = ()  # at most one per asset: what is done to it in the run
    sensor_fault_fraction: float = 0.0  # share of assets with one sensor fault (issue 13)
    sensor_fault_mix: tuple[str, ...] = SENSOR_FAULT_KINDS  # kinds, cycled over those assets

    def __post_init__(self) -> None:
        """Normalise ``start`` to UTC and validate every field."""
        object.__setattr__(self, "start", ensure_utc(self.start, what="FleetConfig.start"))
        _validate(self)

    @property
    def end_s(self) -> float:
        """Length of the run in seconds."""
        return self.days * DAY_S


def _validate(cfg: FleetConfig) -> None:
    """Raise ``ValueError`` for a config the simulator cannot run."""
    sizes = {
        "n_assets": cfg.n_assets, "days": cfg.days, "sample_rate_hz": cfg.sample_rate_hz,
        "frame_len": cfg.frame_len, "frame_interval_s": cfg.frame_interval_s,
        "scalar_interval_s": cfg.scalar_interval_s,
    }
    bad = [name for name, value in sizes.items() if not (value > 0 and math.isfinite(value))]
    if bad:
        msg = f"FleetConfig fields must be positive and finite: {', '.join(bad)}"
        raise ValueError(msg)
    if not 0.0 <= cfg.fault_fraction <= 1.0 or not cfg.downtime_s >= 0.0:
        msg = f"need 0 <= fault_fraction <= 1 and downtime_s >= 0, got {cfg}"
        raise ValueError(msg)
    unknown = sorted(set(cfg.fault_mix) - set(FAULT_KINDS))
    if unknown or (not cfg.fault_mix and cfg.fault_fraction > 0.0):
        msg = f"fault_mix must be a non-empty subset of {FAULT_KINDS}, got {cfg.fault_mix}"
        raise ValueError(msg)
    _validate_plans(cfg)
    _validate_sensor_faults(cfg)


def _validate_sensor_faults(cfg: FleetConfig) -> None:
    """A share in [0, 1] and, when it is above 0, a non-empty mix of known kinds."""
    if not 0.0 <= cfg.sensor_fault_fraction <= 1.0:
        msg = f"need 0 <= sensor_fault_fraction <= 1, got {cfg.sensor_fault_fraction}"
        raise ValueError(msg)
    kinds = (*SENSOR_FAULT_KINDS, *OPTIONAL_KINDS)
    unknown = sorted(set(cfg.sensor_fault_mix) - set(kinds))
    if unknown or (not cfg.sensor_fault_mix and cfg.sensor_fault_fraction > 0.0):
        msg = f"sensor_fault_mix must be a non-empty subset of {kinds}, got {cfg.sensor_fault_mix}"
        raise ValueError(msg)


def _validate_plans(cfg: FleetConfig) -> None:
    """One plan per asset of the fleet, replacements within the run."""
    ids = [p.asset_id for p in cfg.plans]
    known = {_asset_id(i) for i in range(cfg.n_assets)}
    bad = sorted({a for a in ids if a not in known or ids.count(a) > 1})
    if bad:
        msg = f"FleetConfig.plans: unknown asset or more than one plan for {', '.join(bad)}"
        raise ValueError(msg)
    early = [p.asset_id for p in cfg.plans if run_s(cfg.start, p.replace_at, 0.0) < 0.0]
    if early:
        msg = f"FleetConfig.plans: replacement before the start of the run for {', '.join(early)}"
        raise ValueError(msg)


@dataclass(frozen=True)
class LifeTruth:
    """One life of one asset (install to failure or to the end of the run)."""

    asset_id: str
    life_id: int
    installed_at: datetime
    fault_kind: str | None
    fault_onset: datetime | None
    failure_at: datetime | None  # None: survived to the end of the run


@dataclass(frozen=True, eq=False)
class _AssetPlan:
    """Everything decided up front for one asset; the streams only add noise."""

    asset_id: str
    phys: AssetPhysics
    kind: str | None
    curve: DamageCurve | None
    failure_s: float | None
    reinstall_s: float | None
    noise_seeds: Sequence[np.random.SeedSequence]  # scalar noise, waveform noise
    action: PlanAction | None = None  # the plan followed (load cap, replacement)
    replace_s: float | None = None  # planned replacement stops life 0 here (before any failure)


def _asset_id(index: int) -> str:
    """``pump-001`` for index 0."""
    return f"pump-{index + 1:03d}"


def _seeds(cfg: FleetConfig) -> list[list[np.random.SeedSequence]]:
    """Per asset: [physics, life, scalar noise, waveform noise] seed sequences."""
    return [ss.spawn(4) for ss in np.random.SeedSequence(cfg.seed).spawn(cfg.n_assets)]


def _physics(seeds: list[list[np.random.SeedSequence]]) -> list[AssetPhysics]:
    """Every asset's physical parameters, from its own parameter stream."""
    return [draw_asset_physics(np.random.default_rng(s[0])) for s in seeds]


def _plans(cfg: FleetConfig, *, follow: bool = True) -> list[_AssetPlan]:
    """Physics and life plan of every asset (cheap: no waveforms); ``follow=False`` ignores
    ``cfg.plans`` (the unplanned run)."""
    seeds = _seeds(cfg)
    phys = _physics(seeds)
    draws = [np.random.default_rng(s[1]).uniform(size=5) for s in seeds]
    n_faulty = math.floor(cfg.fault_fraction * cfg.n_assets + 0.5)
    ranked = sorted(range(cfg.n_assets), key=lambda i: float(draws[i][0]))[:n_faulty]
    kinds = {i: cfg.fault_mix[rank % len(cfg.fault_mix)] for rank, i in enumerate(ranked)}
    plans = [
        _plan(cfg, i, phys[i], kinds.get(i), draws[i], seeds[i][2:]) for i in range(cfg.n_assets)
    ]
    actions = {a.asset_id: a for a in cfg.plans} if follow else {}
    return [_followed(cfg, p, actions[p.asset_id]) if p.asset_id in actions else p for p in plans]


def _lerp(bounds: tuple[float, float], u: float) -> float:
    """Map ``u`` in [0, 1] linearly onto ``bounds``."""
    return bounds[0] + (bounds[1] - bounds[0]) * u


def _plan(
    cfg: FleetConfig, index: int, phys: AssetPhysics, kind: str | None, draws: np.ndarray,
    noise_seeds: Sequence[np.random.SeedSequence],
) -> _AssetPlan:
    """Damage curve, failure and reinstall time of one asset."""
    aid = _asset_id(index)
    if kind is None:
        return _AssetPlan(aid, phys, None, None, None, None, noise_seeds)
    curve = build_damage_curve(
        phys, onset_s=cfg.end_s * _lerp(ONSET_RANGE, draws[1]),
        duration_s=cfg.end_s * _lerp(DURATION_RANGE, draws[2]), q=_lerp(LAW_Q_RANGE, draws[3]),
        d0=_lerp(LAW_D0_RANGE, draws[4]), end_s=cfg.end_s, day_offset_s=_day_offset_s(cfg),
    )
    failure, reinstall = _ends(cfg, curve.failure_s(), None)
    return _AssetPlan(aid, phys, kind, curve, failure, reinstall, noise_seeds)


def _ends(
    cfg: FleetConfig, failure_s: float | None, replace_s: float | None
) -> tuple[float | None, float | None]:
    """The failure within the run (None: after its end, or after a planned replacement) and
    the reinstall after the failure or the replacement (None: after the end of the run)."""
    if failure_s is not None and (failure_s >= cfg.end_s
                                  or (replace_s is not None and replace_s <= failure_s)):
        failure_s = None
    stop = failure_s if failure_s is not None else replace_s
    reinstall = None if stop is None else stop + cfg.downtime_s
    if reinstall is not None and reinstall >= cfg.end_s:
        reinstall = None
    return failure_s, reinstall


def _followed(cfg: FleetConfig, plan: _AssetPlan, action: PlanAction) -> _AssetPlan:
    """``plan`` when ``action`` is followed: damage under the load cap, the failure it gives,
    the planned replacement (within the run) and the reinstall after either."""
    replace_s: float | None = run_s(cfg.start, action.replace_at, math.inf)
    if replace_s is not None and replace_s >= cfg.end_s:
        replace_s = None
    curve = plan.curve
    if curve is not None and action.load_fraction is not None:
        load = load_profile(plan.phys, curve.grid_s, _day_offset_s(cfg))
        curve = capped_curve(curve, load, load_cap(action, cfg.start, curve.grid_s))
    failure, reinstall = _ends(cfg, None if curve is None else curve.failure_s(), replace_s)
    return dataclasses.replace(plan, curve=curve, failure_s=failure, reinstall_s=reinstall,
                               action=action, replace_s=replace_s)


def fleet_metadata(cfg: FleetConfig) -> dict[str, AssetMetadata]:
    """Static metadata of every asset; the threshold is the model's RMS at damage 1.

    The threshold is averaged over the fault kinds, so it does not reveal which assets are
    faulty. The resonance band is left for the twin to find.
    """
    out: dict[str, AssetMetadata] = {}
    for index, phys in enumerate(_physics(_seeds(cfg))):
        aid = _asset_id(index)
        rms_fail = expected_rms(phys, 1.0, sample_rate_hz=cfg.sample_rate_hz)
        out[aid] = AssetMetadata(
            asset_id=aid, bearing=phys.bearing, nominal_speed_hz=phys.nominal_hz,
            sensors=SENSORS, failure_threshold=FailureThreshold("vib.rms", rms_fail),
            resonance_band_hz=None,
        )
    return out


def ground_truth(cfg: FleetConfig) -> list[LifeTruth]:
    """Every life of every asset, from the same draws as :func:`simulate_fleet` (under
    ``cfg.plans``)."""
    truths: list[LifeTruth] = []
    for plan in _plans(cfg):
        kind, onset = plan.kind, None if plan.curve is None else _at(cfg, plan.curve.onset_s)
        if plan.replace_s is not None and plan.curve is not None and plan.curve.onset_s >= plan.replace_s:
            kind, onset = None, None  # the bearing was replaced before its defect started
        failure = None if plan.failure_s is None else _at(cfg, plan.failure_s)
        truths.append(LifeTruth(plan.asset_id, 0, cfg.start, kind, onset, failure))
        if plan.reinstall_s is not None:
            installed = _at(cfg, plan.reinstall_s)
            truths.append(LifeTruth(plan.asset_id, 1, installed, None, None, None))
    return truths


def true_rul_s(truths: Sequence[LifeTruth], asset_id: str, ts: datetime) -> float | None:
    """Seconds from ``ts`` to the failure of the life containing it (0 while down after it).

    ``None`` if that life does not fail within the run or ``ts`` is before the first install.
    """
    ts = ensure_utc(ts)
    lives = sorted((t for t in truths if t.asset_id == asset_id), key=attrgetter("life_id"))
    if not lives:
        msg = f"no ground truth for asset {asset_id!r}"
        raise ValueError(msg)
    current = None
    for life in lives:
        if life.installed_at <= ts:
            current = life
    if current is None or current.failure_at is None:
        return None
    return max(0.0, (current.failure_at - ts).total_seconds())


def sensor_faults(cfg: FleetConfig) -> list[SensorFault]:
    """The run's sensor faults (:mod:`.sensor_faults`), placed on the unplanned life plan."""
    if cfg.sensor_fault_fraction <= 0.0:
        return []
    facts = []
    for i, plan in enumerate(_plans(cfg, follow=False)):
        window = None
        if plan.curve is not None:
            window = (plan.curve.onset_s, cfg.end_s if plan.failure_s is None else plan.failure_s)
        facts.append(AssetFacts(plan.asset_id, i, plan.phys, window))
    return plan_sensor_faults(cfg, facts)


def sensor_fault_truth(cfg: FleetConfig) -> list[SensorFaultTruth]:
    """Ground truth of every sensor fault of the run (empty without sensor faults)."""
    return [t for f in sensor_faults(cfg) for t in f.truths(cfg)]


def simulate_fleet(cfg: FleetConfig) -> Iterator[SimRecord]:
    """All assets' records merged in non-decreasing event-time order, lazily (each asset under
    its plan in ``cfg.plans``, if any). With sensor faults the merge is on the records' TRUE
    times: a record whose timestamp a clock fault shifted arrives when it was really sent."""
    faults = sensor_faults(cfg)
    streams = [asset_stream(cfg, plan) for plan in _plans(cfg)]
    if not faults:
        yield from heapq.merge(*streams, key=_timestamp)
        return
    mine = [[f for f in faults if f.asset_id == plan.asset_id] for plan in _plans(cfg)]
    timed = [corrupted(cfg, s, f) for s, f in zip(streams, mine, strict=True)]
    for _, record in heapq.merge(*timed, key=_first):
        yield record

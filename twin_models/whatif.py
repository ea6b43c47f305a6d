"""What-if runs: an asset twin's future under a hypothetical operating plan (pure).

:func:`run_whatif` forks the twin's damage state (:mod:`twin_models.rul.damage`: a particle
filter over damage and Paris-law growth parameters; the fork is a copy, the twin never changes),
moves the fork to the question's time under the recent usage, and forecasts under two plans:
the :class:`Scenario` and the *baseline*, running as now (the state's recent usage rate,
:meth:`~twin_models.rul.damage.DamageState.as_now`). Each gives the RUL distribution (median,
10 % and 90 %), P(failure before each date) and the expected indicator trajectory.

Indicator trajectories: the damage state forecasts its indicator ``y``, the failure feature's
excess over its healthy baseline as a share of the span to the failure threshold (the twin's
health index is ``1 - y``). The failure feature (vibration RMS on the demo fleet) is therefore
``baseline + y * span`` exactly. The envelope line of the diagnosed defect and the housing
temperature follow the least-squares line of each on ``y`` that the twin learnt over the windows
of this life since the first evidence of damage (:mod:`twin_models.rul.relation`); the
temperature is shifted by the plan's ambient temperature minus the baseline's (20 degC unless
given). Load and speed change the trajectories through the damage only (the indicator's direct
load sensitivity is not added back): a derated machine's measured RMS is a bit lower still.

A twin with no damage evidence in its life gets ``status="no_damage"``: no failure expected
within the horizon, every P(failure) 0, with that reason. Plans are :class:`Scenario` (loads as fractions,
see there) or :class:`~twin_models.rul.profile.OperatingProfile` (in the damage law's units, as
:meth:`~twin_models.rul.damage.DamageState.as_now` gives them: what the prescriptions build).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from twin_models.records import PlanSegment, TrajectoryPoint, WhatIfOutcome, WhatIfResult
from twin_models.rul.damage import DamageState
from twin_models.rul.damage_track import MAX_LOAD_FRACTION
from twin_models.rul.profile import OperatingProfile
from twin_models.rul.relation import TEMPERATURE, IndicatorRelation

if TYPE_CHECKING:
    from twin_models.twin import AssetTwin

__all__ = ["LAW_LIMITS", "LIMITS", "MAX_HORIZON_S", "MAX_SPEED_RATIO", "NO_DAMAGE", "Scenario", "WhatIfBasis",
           "basis_of", "run_whatif"]

MAX_HORIZON_S = 50 * 365 * 86400.0
NO_DAMAGE = "no damage evidence in this life: no failure expected within the horizon"
LIMITS: dict[str, tuple[float, float, str]] = {
    "load": (0.0, MAX_LOAD_FRACTION, "a fraction of rated load"),
    "speed_hz": (0.1, 1000.0, "Hz"),
    "ambient_c": (-60.0, 60.0, "degC"),
    "duty": (0.0, 1.0, "a share of the time"),
}
"""What a plan's values may be (bounds included): what the damage law and the indicator relations
were learnt on, with room. ``load``: a load channel above 1.5 is not a fraction of rated
(:data:`~twin_models.rul.damage_track.MAX_LOAD_FRACTION`), the simulator's loads are 0.5-1.0, a
command's rails 0.5-1.0; the law's usage goes as the cube, so 1e9 was a number, not a plan.
``speed_hz``: a shaft from 6 to 60,000 rpm, and at most :data:`MAX_SPEED_RATIO` times the twin's
reference speed (checked in :func:`run_whatif`, which knows it). ``ambient_c``: the outdoor air
temperatures machines meet (the temperature line is shifted by it; the simulator's are 13-31).
``duty``: a share."""
LAW_LIMITS = {**LIMITS, "load": (0.0, 1e9, "in the load channel's units")}
"""An :class:`~twin_models.rul.profile.OperatingProfile`'s bounds (what the prescriptions build):
its loads are the damage law's, a channel in kW or % when it does not read as a fraction."""
MAX_SPEED_RATIO = 2.0
"""A plan's speed at most this many times the twin's reference (nominal) speed: the damage law's
usage is linear in the speed ratio, learnt within a few % of nominal; a bearing at twice its
machine's nominal speed is another machine."""


@dataclass(frozen=True, slots=True)
class Scenario:
    """A plan: piecewise-constant segments from the question's time (the first starts at 0 s);
    a field left None runs as now. ``ValueError`` (one line, naming the field) if not runnable.

    ``load`` is a fraction of rated when the asset's load channel reads as one (the demo fleet),
    else a fraction of the load at the first evidence of damage (the damage law's reference,
    :func:`twin_models.rul.damage_track.reference_load`); ``speed_hz`` the shaft speed (as now:
    the nominal speed, with the recent usage folded into the load), ``ambient_c`` the ambient
    temperature, ``duty`` the share of the time running."""

    segments: tuple[PlanSegment, ...]
    law_units: bool = field(default=False, compare=False, repr=False)
    """Loads in the damage law's units (:meth:`from_profile`: a kW or % channel's own numbers),
    bounded by :data:`LAW_LIMITS`; else fractions, bounded by :data:`LIMITS`."""

    def __post_init__(self) -> None:
        """Check the segments' starts and every value's range."""
        if not self.segments:
            msg = "a what-if plan needs at least one segment"
            raise ValueError(msg)
        starts = [s.start_s for s in self.segments]
        later = all(math.isfinite(b) and b > a for a, b in zip(starts, starts[1:], strict=False))
        if starts[0] != 0.0 or not later:
            msg = f"a what-if plan's segments must start at 0 s, then later and later, got {starts}"
            raise ValueError(msg)
        for seg in self.segments:
            for name, (lo, hi, unit) in (LAW_LIMITS if self.law_units else LIMITS).items():
                v = getattr(seg, name)
                if v is not None and not (isinstance(v, int | float) and math.isfinite(v) and lo <= v <= hi):
                    msg = f"what-if {name} must be within [{lo:g}, {hi:g}] ({unit}), got {v!r}"
                    raise ValueError(msg)

    @classmethod
    def constant(cls, *, load: float | None = None, speed_hz: float | None = None,
                 ambient_c: float | None = None, duty: float | None = None) -> Scenario:
        """One segment for ever."""
        return cls((PlanSegment(0.0, load, speed_hz, ambient_c, duty),))

    @classmethod
    def from_profile(cls, profile: OperatingProfile) -> Scenario:
        """The scenario of an operating profile (every field given)."""
        return cls(tuple(PlanSegment(*v) for v in zip(profile.starts_s, profile.load, profile.speed_hz,
                                                       profile.ambient_c, profile.duty, strict=True)),
                   law_units=True)

    def profile(self, as_now: OperatingProfile, reference_load: float = 1.0) -> OperatingProfile:
        """The plan in the damage law's units, every None filled from ``as_now`` (a constant
        profile); loads are multiplied by ``reference_load``."""
        segs = self.segments

        def col(name: str) -> tuple[float, ...]:
            fill, scale = getattr(as_now, name)[0], reference_load if name == "load" else 1.0
            return tuple(fill if (v := getattr(s, name)) is None else float(v) * scale for s in segs)

        return OperatingProfile(tuple(s.start_s for s in segs), col("load"), col("speed_hz"),
                                col("ambient_c"), col("duty"))


@dataclass(frozen=True, slots=True)
class WhatIfBasis:
    """What a what-if needs from a twin (a private copy of its damage state; None = no damage
    evidence in this life), also rebuilt from the archive's damage checkpoints."""

    asset_id: str
    life_id: int
    state: DamageState | None
    defect: str | None
    health_feature: str
    health_baseline: float
    health_threshold: float
    relation: IndicatorRelation

    @property
    def span(self) -> float:
        """The failure feature's distance from its healthy baseline to the threshold."""
        return max(self.health_threshold - self.health_baseline, 1e-9)

    def start(self, now: datetime) -> datetime:
        """When a what-if asked at ``now`` starts: ``now``, or the damage state's time if later."""
        state = self.state
        return now if state is None or state.t_s is None else max(now, datetime.fromtimestamp(state.t_s, UTC))

    def top_speed_hz(self) -> float | None:
        """The highest speed a plan may ask of this twin (None: no damage state, no limit)."""
        return None if self.state is None else MAX_SPEED_RATIO * self.state.reference_speed_hz


def basis_of(twin: AssetTwin) -> WhatIfBasis:
    """A fork of ``twin``: deep copies, so nothing done with it reaches the twin."""
    health = twin.health
    relation = twin.indicator_relation or IndicatorRelation()
    defect = twin.damage_defect
    return WhatIfBasis(twin.metadata.asset_id, twin.life_id, copy.deepcopy(twin.damage_state), defect,
                       health.feature if health else "", health.baseline.get() if health else 0.0,
                       health.threshold if health else 1.0, copy.deepcopy(relation))


def _check(now: datetime, horizon_s: float, dates: Sequence[datetime]) -> None:
    if not (math.isfinite(horizon_s) and 0.0 < horizon_s <= MAX_HORIZON_S):
        msg = f"what-if horizon must be within (0, {MAX_HORIZON_S:g}] seconds, got {horizon_s!r}"
        raise ValueError(msg)
    for d in dates:
        if d.tzinfo is None or d <= now:
            msg = f"what-if date {d.isoformat()} must be timezone-aware and after {now.isoformat()}"
            raise ValueError(msg)
        if (d - now).total_seconds() > horizon_s:  # round 49: its P was the horizon's, not the date's
            msg = (f"what-if date {d.isoformat()} is after the horizon's end "
                   f"{(now + timedelta(seconds=horizon_s)).isoformat()}: a failure later than the horizon "
                   "is not forecast (a longer horizon)")
            raise ValueError(msg)


def _check_speed(plan: Scenario, reference_hz: float) -> None:
    """A plan's speeds at most :data:`MAX_SPEED_RATIO` times the twin's reference speed."""
    top = MAX_SPEED_RATIO * reference_hz
    for seg in plan.segments:
        if seg.speed_hz is not None and seg.speed_hz > top:
            msg = (f"what-if speed_hz must be within [{LIMITS['speed_hz'][0]:g}, {top:.4g}] Hz for this twin "
                   f"({MAX_SPEED_RATIO:g} x its reference speed {reference_hz:.4g} Hz), got {seg.speed_hz!r}")
            raise ValueError(msg)


def run_whatif(twin: AssetTwin | WhatIfBasis, scenario: Scenario | OperatingProfile, *, now: datetime,
               horizon_s: float, dates: Sequence[datetime] = (), request_id: str = "") -> WhatIfResult:
    """The scenario's and the baseline's outcomes from ``now`` (not before the twin's last
    window) to ``now + horizon_s``. Never changes ``twin``. ``ValueError`` (one line) for a
    naive time, a horizon outside (0, 50 years], a date not after ``now`` or after the horizon's end
    (round 49), or a plan's speed above
    :data:`MAX_SPEED_RATIO` times the twin's reference speed."""
    if now.tzinfo is None:
        msg = f"what-if time must be timezone-aware (UTC), got {now.isoformat()}"
        raise ValueError(msg)
    basis = twin if isinstance(twin, WhatIfBasis) else basis_of(twin)
    plan = scenario if isinstance(scenario, Scenario) else Scenario.from_profile(scenario)
    given = scenario if isinstance(scenario, OperatingProfile) else None
    state = basis.state
    start = basis.start(now)
    _check(start, horizon_s, dates)
    result = WhatIfResult(request_id, basis.asset_id, start, "no_damage", NO_DAMAGE, horizon_s, plan.segments,
                          defect=basis.defect)
    if state is None:
        nothing = WhatIfOutcome(None, None, None, tuple((d, 0.0) for d in dates))
        return replace(result, scenario=nothing, baseline=nothing)
    _check_speed(plan, state.reference_speed_hz)
    as_now = state.as_now()
    state.update(start.timestamp(), math.nan, as_now.load[0], as_now.speed_hz[0])  # the fork only
    times = [(d - start).total_seconds() for d in dates]
    profile = given or plan.profile(as_now, state.reference_load)
    outcomes = [_outcome(basis, p, start, horizon_s, dates, times, as_now) for p in (profile, as_now)]
    return replace(result, status="ok", reason="", damage=state.damage_quantiles()[1],
                    scenario=outcomes[0], baseline=outcomes[1])


def _outcome(basis: WhatIfBasis, profile: OperatingProfile, start: datetime, horizon_s: float,
             dates: Sequence[datetime], times: Sequence[float], as_now: OperatingProfile) -> WhatIfOutcome:
    """One plan's forecast, with its trajectory in the asset's own features."""
    assert basis.state is not None
    fc = basis.state.forecast(profile, horizon_s=horizon_s, times_s=times)
    median = dict(fc.indicator)[0.5]
    env = basis.relation.envelope_feature(basis.defect)
    points = []
    for t, y in zip(fc.indicator_times_s, median, strict=True):
        seg = max(i for i, s in enumerate(profile.starts_s) if s <= t)
        shift = profile.ambient_c[seg] - as_now.ambient_c[0]
        temp = basis.relation.predict(TEMPERATURE, y)
        points.append(TrajectoryPoint(
            start + timedelta(seconds=t), y,
            basis.health_baseline + y * basis.span if basis.health_feature else None,
            None if env is None else basis.relation.predict(env, y),
            None if temp is None else temp + shift))
    return WhatIfOutcome(fc.rul_median_s, fc.rul_p10_s, fc.rul_p90_s,
                         tuple(zip(dates, fc.p_failure, strict=True)), tuple(points))


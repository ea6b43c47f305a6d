"""What-if records (issue 11): requests, results and the damage checkpoints of the archive.

Plain frozen data like :mod:`twin_models.records` (which re-exports them): every timestamp is a
timezone-aware UTC :class:`datetime`, durations are seconds. The JSON contracts are
``schemas/whatif_request.v1.json``, ``schemas/whatif_result.v1.json`` and
``schemas/damage_checkpoint.v1.json`` (archive table ``damage_state``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, final

__all__ = ["WHATIF_STATUSES", "DamageCheckpoint", "PlanSegment", "TrajectoryPoint", "WhatIfOutcome",
           "WhatIfRequest", "WhatIfResult", "WhatIfStatus"]

WhatIfStatus = Literal["ok", "no_damage", "unknown_asset", "invalid"]
WHATIF_STATUSES: tuple[str, ...] = ("ok", "no_damage", "unknown_asset", "invalid")


@dataclass(frozen=True, slots=True)
class PlanSegment:
    """One piece of a what-if plan, from ``start_s`` seconds after the question until the next
    piece (the last one holds for ever). None = as now (the twin's recent operation)."""

    start_s: float
    load: float | None = None
    speed_hz: float | None = None
    ambient_c: float | None = None
    duty: float | None = None


@final  # the twin step tells a request from a window by `type(x) is`: no subclass
@dataclass(frozen=True, slots=True)
class WhatIfRequest:
    """Run an asset's twin forward under ``plan`` until ``horizon_s`` after ``timestamp`` and
    give P(failure) before each of ``dates`` (``twin.whatif.requests.v1``)."""

    request_id: str
    asset_id: str
    timestamp: datetime
    plan: tuple[PlanSegment, ...]
    horizon_s: float
    dates: tuple[datetime, ...] = ()


@dataclass(frozen=True, slots=True)
class TrajectoryPoint:
    """Expected (median) indicators at time ``at``: the damage indicator (share of the span to
    the failure threshold), the failure feature (vibration RMS on the demo), the envelope line
    of the diagnosed defect and the housing temperature (None = not measured on this asset)."""

    at: datetime
    indicator: float
    failure_feature: float | None
    envelope_line: float | None
    temperature_c: float | None


@dataclass(frozen=True, slots=True)
class WhatIfOutcome:
    """The RUL distribution (seconds from the question; None = beyond the horizon), P(failure)
    before each requested date as ``(date, p)``, and the expected indicator trajectory."""

    rul_median_s: float | None
    rul_p10_s: float | None
    rul_p90_s: float | None
    p_failure: tuple[tuple[datetime, float], ...]
    trajectory: tuple[TrajectoryPoint, ...] = ()


@dataclass(frozen=True, slots=True)
class WhatIfResult:
    """The answer to a :class:`WhatIfRequest` (``twin.whatif.results.v1``).

    ``status``: ``ok``; ``no_damage`` (no damage evidence in this life: no failure expected
    within the horizon, every P = 0); ``unknown_asset``; ``invalid`` (the plan or dates cannot
    be run: ``reason`` says why). ``scenario`` is the plan's outcome, ``baseline`` the outcome
    of running as now; ``timestamp`` the time the answer starts from (the question's time, not
    before the twin's last window)."""

    request_id: str
    asset_id: str
    timestamp: datetime
    status: WhatIfStatus
    reason: str
    horizon_s: float
    plan: tuple[PlanSegment, ...]
    damage: float | None = None
    defect: str | None = None
    scenario: WhatIfOutcome | None = None
    baseline: WhatIfOutcome | None = None


@dataclass(frozen=True, slots=True)
class DamageCheckpoint:
    """An asset's damage state and what a what-if needs besides it, as plain numbers (archive
    table ``damage_state``): the particles (one value per particle in each array), the state's
    scalars and prior, the health index's feature, baseline and threshold, the diagnosed defect
    and the indicator relation's running sums (:mod:`twin_models.rul.relation`)."""

    asset_id: str
    timestamp: datetime
    life_id: int
    defect: str | None
    health_feature: str
    health_baseline: float
    health_threshold: float
    scalars: dict[str, float]
    prior: dict[str, float]
    relation: dict[str, float]
    d: tuple[float, ...]
    log_k: tuple[float, ...]
    q: tuple[float, ...]
    gamma: tuple[float, ...]
    linear: tuple[float, ...]
    fail_level: tuple[float, ...]
    logw: tuple[float, ...]

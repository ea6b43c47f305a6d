"""What a plan does to one simulated asset: a load cap in a time window and a bearing replacement.

:class:`PlanAction` is the plan; :func:`load_cap` is the cap it puts on the true load at given run
times and :func:`capped_curve` the asset's Paris-law damage under that cap. Both the simulator's
telemetry (:mod:`twin_models.simulator.fleet`) and the ground-truth replay
(:func:`twin_models.simulator.plans.plan_outcome`) use them, so the two cannot disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
import numpy.typing as npt

from twin_models.records import ensure_utc
from twin_models.simulator.physics import LOAD_EXPONENT, DamageCurve

__all__ = ["PlanAction", "capped_curve", "load_cap", "run_s"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class PlanAction:
    """What is done to one asset: a load limit from ``at`` to ``until`` (None: to the end of the
    run) when ``load_fraction`` is set, and a bearing replacement at ``replace_at``."""

    asset_id: str
    at: datetime
    load_fraction: float | None = None
    until: datetime | None = None
    replace_at: datetime | None = None

    def __post_init__(self) -> None:
        """Aware UTC times, a load fraction in (0, 1]."""
        object.__setattr__(self, "at", ensure_utc(self.at, what="PlanAction.at"))
        for name in ("until", "replace_at"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, ensure_utc(value, what=f"PlanAction.{name}"))
        f = self.load_fraction
        if f is not None and not (math.isfinite(f) and 0.0 < f <= 1.0):
            msg = f"PlanAction.load_fraction must be in (0, 1], got {f!r}"
            raise ValueError(msg)


def run_s(start: datetime, ts: datetime | None, default: float) -> float:
    """Seconds from ``start`` to ``ts`` (``default`` when ``ts`` is None)."""
    return default if ts is None else (ts - start).total_seconds()


def load_cap(action: PlanAction, start: datetime, times_s: FloatArray) -> FloatArray:
    """The cap ``action`` puts on the true load at run times ``times_s`` (inf: no cap)."""
    cap = np.full(np.shape(times_s), math.inf)
    if action.load_fraction is not None:
        lo, hi = run_s(start, action.at, 0.0), run_s(start, action.until, math.inf)
        cap[(times_s >= lo) & (times_s < hi)] = action.load_fraction
    return cap


def capped_curve(curve: DamageCurve, load: FloatArray, cap: FloatArray) -> DamageCurve:
    """``curve``'s law when the load on its grid (``load``) is limited to ``cap``: the same wear
    rate, exponent and flaw, the load integral ``∫ min(load, cap)^p dt`` from the onset."""
    lp = np.minimum(load, cap) ** LOAD_EXPONENT
    grid = curve.grid_s
    cum = np.concatenate(([0.0], np.cumsum(0.5 * (lp[1:] + lp[:-1]) * np.diff(grid))))
    return replace(curve, load_integral=cum)

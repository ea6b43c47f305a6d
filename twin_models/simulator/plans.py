"""The simulator honours a plan: ground truth under a derate or a replacement of one asset.

A :class:`PlanAction` limits one asset's true load to ``load_fraction`` of rated from ``at``
until ``until`` (a derate) and/or replaces its bearing at ``replace_at``. :func:`plan_outcome`
replays the asset's Paris-law damage (:class:`~twin_models.simulator.physics.DamageCurve`: the
same wear rate, exponent and flaw as the unplanned run, from the same seeds) with the capped
load (:mod:`twin_models.simulator.actions`, which the simulator's telemetry shares when
``FleetConfig.plans`` holds the action): the damage rate is ``k * load^p * (d0 + d)^-q``, so
a derate stretches the remaining life by the factor by which it lowers ``∫ load^p dt``. A
replacement before the (derated) failure avoids it. Healthy assets never fail, whatever the plan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from twin_models.simulator.actions import PlanAction, capped_curve, load_cap
from twin_models.simulator.fleet import FleetConfig, _plans
from twin_models.simulator.physics import DamageCurve, load_profile
from twin_models.simulator.telemetry import day_offset_s

__all__ = ["PlanAction", "PlanOutcome", "plan_outcome"]


@dataclass(frozen=True)
class PlanOutcome:
    """Ground truth of one asset's first life with and without the plan.

    ``failure_at``: the failure under the plan (None: none within the run, or avoided by the
    replacement); ``baseline_failure_at``: without it; ``lost_load_pct_h``: rated-load percent
    hours given up by the derate until the failure or replacement (what lost production costs).
    """

    asset_id: str
    baseline_failure_at: datetime | None
    failure_at: datetime | None
    replaced_at: datetime | None
    lost_load_pct_h: float

    @property
    def avoided(self) -> bool:
        """The plan avoided a failure that would have happened in the run."""
        return self.baseline_failure_at is not None and self.failure_at is None


def plan_outcome(cfg: FleetConfig, action: PlanAction) -> PlanOutcome:
    """The asset's first life under ``action`` (from the same draws as the unplanned run)."""
    plan = next((p for p in _plans(cfg, follow=False) if p.asset_id == action.asset_id), None)
    if plan is None:
        msg = f"no asset {action.asset_id!r} in the simulated fleet (n_assets={cfg.n_assets})"
        raise ValueError(msg)
    base = None if plan.failure_s is None else cfg.start + timedelta(seconds=plan.failure_s)
    replace_s = None if action.replace_at is None else (action.replace_at - cfg.start).total_seconds()
    if plan.curve is None:
        return PlanOutcome(plan.asset_id, None, None, action.replace_at, 0.0)
    curve = plan.curve
    start_s = (action.at - cfg.start).total_seconds()
    end_s = math.inf if action.until is None else (action.until - cfg.start).total_seconds()
    load = load_profile(plan.phys, curve.grid_s, day_offset_s(cfg))
    cap = load_cap(action, cfg.start, curve.grid_s)
    fail_s = capped_curve(curve, load, cap).failure_s()
    if fail_s is not None and fail_s >= cfg.end_s:
        fail_s = None
    if fail_s is not None and replace_s is not None and replace_s <= fail_s:
        fail_s = None
    stop_s = min(x for x in (fail_s, replace_s, end_s, cfg.end_s) if x is not None)
    keep = (curve.grid_s >= start_s) & (curve.grid_s < stop_s)
    lost = float(np.sum(np.maximum(load - cap, 0.0)[keep])) * 100.0 * _step_h(curve)
    failure = None if fail_s is None else cfg.start + timedelta(seconds=fail_s)
    return PlanOutcome(plan.asset_id, base, failure, action.replace_at, lost)


def _step_h(curve: DamageCurve) -> float:
    """Hours between the curve's grid points."""
    return float(curve.grid_s[1] - curve.grid_s[0]) / 3600.0 if len(curve.grid_s) > 1 else 0.0

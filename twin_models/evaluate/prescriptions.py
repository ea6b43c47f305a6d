"""Prescriptions against the simulator's ground truth: would following the plan have paid off?

For a detected fault, the recommendation in effect at detection (the latest made at or before
it, else the first after) is followed in the simulator (:mod:`twin_models.simulator.plans`): a
derate from the recommendation's time until the planned stop and a replacement there, a
replacement at the stop, or a replacement now. Its simulated cost uses the same cost model as
the expectation (:mod:`twin_models.prescribe`): a failure in the run costs the failure and its
downtime, else the replacement is planned; a derate adds the production it really gave up (the
true load above the limit) and a replacement now its downtime. Running as is costs the failure
if the fault fails within the run, else a planned replacement later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from twin_models.evaluate.detection import FaultOutcome
from twin_models.prescribe import PlanCosts
from twin_models.records import PlanOption, Recommendation
from twin_models.simulator.fleet import FleetConfig
from twin_models.simulator.plans import PlanAction, PlanOutcome, plan_outcome

__all__ = [
    "PrescriptionOutcome", "at_detection", "follow", "followed_action", "hours_between",
    "simulated_cost",
]

SOON_S = 24 * 3600.0
"""A recommendation first made at most this long after detection still counts as "at" it."""


@dataclass(frozen=True)
class PrescriptionOutcome:
    """One detected fault's recommendation and what following it would have done."""

    asset_id: str
    recommendation: Recommendation
    as_is: PlanOutcome
    followed: PlanOutcome
    expected_cost: float
    expected_as_is_cost: float
    simulated_cost: float
    simulated_as_is_cost: float
    hindsight: PlanOption
    """The option that would have cost least in the simulation (known only afterwards)."""
    hindsight_cost: float


def at_detection(fault: FaultOutcome, recs: Sequence[Recommendation]) -> Recommendation | None:
    """The recommendation in effect when ``fault`` was detected (same asset, before its failure)."""
    if fault.detected_at is None:
        return None
    detected = fault.detected_at
    mine = sorted((r for r in recs if r.asset_id == fault.asset_id and r.timestamp >= fault.onset
                   and (fault.failure_at is None or r.timestamp < fault.failure_at)),
                  key=lambda r: r.timestamp)
    before = [r for r in mine if r.timestamp <= detected]
    if before:
        return before[-1]
    return next((r for r in mine if r.timestamp <= detected + timedelta(seconds=SOON_S)), None)


def _action(rec: Recommendation, c: PlanOption) -> PlanAction:
    """Following option ``c`` of ``rec`` from the recommendation's time."""
    if c.plan == "derate":
        return PlanAction(rec.asset_id, rec.timestamp, c.load_fraction, c.until, c.until)
    if c.plan == "replace_planned":
        return PlanAction(rec.asset_id, rec.timestamp, replace_at=c.until)
    if c.plan == "replace_now":
        return PlanAction(rec.asset_id, rec.timestamp, replace_at=rec.timestamp)
    return PlanAction(rec.asset_id, rec.timestamp)


def followed_action(rec: Recommendation) -> PlanAction:
    """What following ``rec``'s chosen plan does to its asset, from the recommendation's time."""
    return _action(rec, rec.chosen)


def _cost(out: PlanOutcome, costs: PlanCosts, *, replaced_now: bool) -> float:
    cost = costs.failure if out.failure_at is not None else costs.planned_replacement
    if replaced_now and out.failure_at is None:
        cost += costs.downtime_per_h * costs.replacement_downtime_h
    return cost + out.lost_load_pct_h * costs.lost_production_per_pct_h


def simulated_cost(fleet: FleetConfig, rec: Recommendation, option: PlanOption,
                   costs: PlanCosts) -> tuple[PlanOutcome, float]:
    """Option ``option`` of ``rec`` followed in the simulator: its outcome and cost."""
    out = plan_outcome(fleet, _action(rec, option))
    return out, _cost(out, costs, replaced_now=option.plan == "replace_now")


def follow(fleet: FleetConfig, rec: Recommendation, costs: PlanCosts) -> PrescriptionOutcome:
    """``rec`` followed in the simulator, against running as is and against the option that
    would have cost least in hindsight."""
    as_is = plan_outcome(fleet, PlanAction(rec.asset_id, rec.timestamp))
    followed, cost = simulated_cost(fleet, rec, rec.chosen, costs)
    costs_each = [(simulated_cost(fleet, rec, o, costs)[1], i) for i, o in enumerate(rec.options)]
    best, i = min(costs_each)
    return PrescriptionOutcome(
        rec.asset_id, rec, as_is, followed, rec.chosen.expected_cost, rec.options[0].expected_cost,
        cost, _cost(as_is, costs, replaced_now=False), rec.options[i], best)


def hours_between(a: datetime | None, b: datetime | None) -> float | None:
    """``b - a`` in hours (None when either is missing)."""
    return None if a is None or b is None else round((b - a).total_seconds() / 3600, 1)

"""The simulator honours a plan (issue 11, level 4): a derate stretches a faulty bearing's life by
the Paris-law factor, a replacement before the failure avoids it, and nothing else changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from twin_models.evaluate.detection import FaultOutcome
from twin_models.evaluate.prescriptions import at_detection, follow
from twin_models.prescribe import PlanCosts
from twin_models.records import PlanOption, Recommendation
from twin_models.simulator.fleet import FleetConfig, _day_offset_s, _plans, ground_truth
from twin_models.simulator.physics import LOAD_EXPONENT, load_profile
from twin_models.simulator.plans import PlanAction, plan_outcome

FLEET = FleetConfig(seed=1)


def _faulty() -> list:  # type: ignore[type-arg]
    return [t for t in ground_truth(FLEET) if t.failure_at is not None]


def test_no_action_gives_the_ground_truth() -> None:
    for t in _faulty():
        out = plan_outcome(FLEET, PlanAction(t.asset_id, t.fault_onset))
        assert out.failure_at == out.baseline_failure_at == t.failure_at
        assert not out.avoided and out.lost_load_pct_h == 0.0


def test_a_derate_stretches_life_by_the_paris_law_factor() -> None:
    """The true load stays within [0.5, 1], so a 0.5 limit makes it 0.5: the damage per second is
    then 0.5^3 / load^3 of what it was, and the usage the failure needs is unchanged."""
    truth = min(_faulty(), key=lambda t: t.failure_at)  # the derated failure stays within the run
    plan = next(p for p in _plans(FLEET) if p.asset_id == truth.asset_id)
    at = truth.failure_at - timedelta(days=1)
    out = plan_outcome(FLEET, PlanAction(truth.asset_id, at, 0.5))
    assert out.failure_at is not None and out.failure_at > truth.failure_at
    t_at = (at - FLEET.start).total_seconds()
    t_fail = (truth.failure_at - FLEET.start).total_seconds()
    grid = np.linspace(t_at, t_fail, 20001)
    usage = np.trapezoid(load_profile(plan.phys, grid, _day_offset_s(FLEET)) ** LOAD_EXPONENT, grid)
    expected = usage / 0.5**LOAD_EXPONENT  # seconds at the capped rate
    assert (out.failure_at - at).total_seconds() == pytest.approx(expected, rel=0.01)


def test_a_derate_that_ends_runs_out_and_a_replacement_avoids_the_failure() -> None:
    truth = _faulty()[0]
    onset, fail = truth.fault_onset, truth.failure_at
    short = plan_outcome(FLEET, PlanAction(truth.asset_id, onset, 0.7, onset + timedelta(hours=6)))
    longer = plan_outcome(FLEET, PlanAction(truth.asset_id, onset, 0.7))
    assert fail < short.failure_at  # type: ignore[operator]
    assert longer.failure_at is None or longer.failure_at > short.failure_at  # type: ignore[operator]
    assert short.lost_load_pct_h < longer.lost_load_pct_h
    early = plan_outcome(FLEET, PlanAction(truth.asset_id, onset, replace_at=fail - timedelta(hours=1)))
    late = plan_outcome(FLEET, PlanAction(truth.asset_id, onset, replace_at=fail + timedelta(hours=1)))
    assert early.avoided and early.failure_at is None
    assert not late.avoided and late.failure_at == fail


def test_a_healthy_asset_never_fails_and_bad_plans_are_refused() -> None:
    faulty = {t.asset_id for t in _faulty()}
    healthy = next(t for t in ground_truth(FLEET) if t.asset_id not in faulty)
    out = plan_outcome(FLEET, PlanAction(healthy.asset_id, FLEET.start, 0.6))
    assert out.failure_at is None and not out.avoided
    with pytest.raises(ValueError, match="no asset"):
        plan_outcome(FLEET, PlanAction("pump-999", FLEET.start))
    with pytest.raises(ValueError, match="load_fraction"):
        PlanAction("pump-001", FLEET.start, 1.5)


def _rec(asset: str, at: datetime, chosen: PlanOption) -> Recommendation:
    as_is = PlanOption("as_is", None, None, 0.8, 80000.0)
    return Recommendation(f"r-{at:%d%H}", asset, "rotating_machine", at, None, chosen, (as_is, chosen),
                          80000.0 - chosen.expected_cost, "EUR", "")


def test_following_a_recommendation_against_running_as_is() -> None:
    truth = _faulty()[0]
    costs = PlanCosts()
    detected = truth.fault_onset + timedelta(hours=30)
    fault = FaultOutcome(truth.asset_id, 0, "bpfo", truth.fault_onset, truth.failure_at, detected,
                         None, None, None, "bpfo")
    now = _rec(truth.asset_id, detected - timedelta(hours=2), PlanOption("replace_now", None, detected, 0.0,
                                                                          18000.0))
    later = _rec(truth.asset_id, detected + timedelta(hours=3), PlanOption("as_is", None, None, 0.8, 80000.0))
    other = _rec("pump-002", detected, PlanOption("replace_now", None, detected, 0.0, 18000.0))
    assert at_detection(fault, [later, other, now]) == now
    assert at_detection(fault, [later, other]) == later  # soon after, when none came before
    out = follow(FLEET, now, costs)
    assert out.followed.avoided and out.as_is.failure_at == truth.failure_at
    downtime = costs.downtime_per_h * costs.replacement_downtime_h
    assert out.simulated_cost == costs.planned_replacement + downtime
    assert out.simulated_as_is_cost == costs.failure
    assert out.hindsight in now.options and out.hindsight_cost <= out.simulated_cost
    assert datetime(2026, 1, 1, tzinfo=UTC) < truth.failure_at

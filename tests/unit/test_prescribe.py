"""Prescriptions (issue 11, level 4): plan costs, the choice, the calendar and the edge cases."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from flows.config.pipeline import load_config
from flows.config.values import ConfigError
from twin_models.prescribe import (
    MaintenanceCalendar,
    PlanCosts,
    PrescribeConfig,
    choose,
    evaluate_plans,
    money,
    parse_kind_costs,
    recommend,
    remembered,
    renew,
)
from twin_models.records import PlanOption
from twin_models.rul.damage import DamagePrior, DamageState

T0 = datetime(2026, 1, 10, tzinfo=UTC)
COSTS = PlanCosts()


def _state(*, damage: tuple[float, float] = (0.3, 0.6), life_s: tuple[float, float] = (3e5, 2e6),
           hours: int = 40, load: float = 0.8) -> DamageState:
    """A damage state fed ``hours`` hourly windows of a rising indicator; its time is T0 + hours - 1."""
    s = DamageState(reference_speed_hz=25.0, noise=0.05, seed=1,
                    prior=DamagePrior(life_s=life_s, damage=damage))
    for i in range(hours):
        s.update(T0.timestamp() + i * 3600, 0.05 + 0.004 * i, load, 25.0)
    return s


def _now(hours: int = 40) -> datetime:
    return T0 + timedelta(hours=hours - 1)


def _by_plan(options: tuple, plan: str, f: float | None = None):  # type: ignore[no-untyped-def]
    return next(o for o in options if o.plan == plan and (f is None or o.load_fraction == f))


def test_calendar_gives_the_first_stop_strictly_after() -> None:
    anchor = datetime(2026, 1, 5, 6, tzinfo=UTC)
    cal = MaintenanceCalendar(7 * 86400.0, anchor)
    assert cal.next_stop(anchor - timedelta(days=30)) == anchor
    assert cal.next_stop(anchor) == anchor + timedelta(days=7)
    assert cal.next_stop(anchor + timedelta(days=9)) == anchor + timedelta(days=14)
    extra = anchor + timedelta(days=2)
    assert replace(cal, dates=(extra,)).next_stop(anchor) == extra
    assert MaintenanceCalendar().next_stop(anchor) is None
    cfg = load_config(env={}, overrides={"prescribe.stop_every_days": 0,
                                         "prescribe.stop_dates": "2026-03-14,2026-02-01T12:00:00+01:00"})
    assert cfg.prescribe.calendar().next_stop(T0) == datetime(2026, 2, 1, 11, tzinfo=UTC)


def test_costs_follow_the_cost_model() -> None:
    s, now = _state(), _now()
    stop = now + timedelta(days=2)
    opts = evaluate_plans(s, now, COSTS, derates=(0.6, 0.7), horizon_s=30 * 86400.0, stop=stop)
    assert [o.plan for o in opts] == ["as_is", "derate", "derate", "replace_planned", "replace_now"]
    as_is = opts[0]
    assert as_is.expected_cost == pytest.approx(as_is.p_failure * COSTS.failure
                                                + (1 - as_is.p_failure) * COSTS.planned_replacement)
    now_opt = _by_plan(opts, "replace_now")
    assert (now_opt.p_failure, now_opt.until) == (0.0, now)
    downtime = COSTS.downtime_per_h * COSTS.replacement_downtime_h
    assert now_opt.expected_cost == COSTS.planned_replacement + downtime
    planned = _by_plan(opts, "replace_planned")
    load = s.as_now().load[0]
    for f in (0.6, 0.7):
        d = _by_plan(opts, "derate", f)
        lost = (load - f) * 100 * 48 * COSTS.lost_production_per_pct_h
        assert d.expected_cost == pytest.approx(d.p_failure * COSTS.failure
                                                + (1 - d.p_failure) * COSTS.planned_replacement + lost)
        assert d.p_failure <= planned.p_failure  # less load, less damage before the stop
    assert _by_plan(opts, "derate", 0.6).p_failure <= _by_plan(opts, "derate", 0.7).p_failure
    assert planned.p_failure <= as_is.p_failure  # the stop comes before the horizon


def test_a_derate_above_the_running_load_is_not_offered() -> None:
    s, now = _state(load=0.65), _now()
    opts = evaluate_plans(s, now, COSTS, derates=(0.6, 0.85), horizon_s=30 * 86400.0,
                          stop=now + timedelta(days=2))
    assert [o.load_fraction for o in opts if o.plan == "derate"] == [0.6]


@pytest.mark.parametrize("stop_days", [None, 45.0])
def test_no_planned_stop_within_the_horizon_leaves_as_is_and_replace_now(stop_days: float | None) -> None:
    s, now = _state(), _now()
    stop = None if stop_days is None else now + timedelta(days=stop_days)
    opts = evaluate_plans(s, now, COSTS, derates=(0.7,), horizon_s=30 * 86400.0, stop=stop)
    assert [o.plan for o in opts] == ["as_is", "replace_now"]
    cfg = PrescribeConfig(stop_every_days=0.0)
    rec = recommend(s, asset_id="p", kind="k", life_id=0, now=now, config=cfg)
    assert rec.chosen.plan in ("as_is", "replace_now")
    assert "planned stop" not in rec.explanation


def test_a_failed_state_says_replace_now() -> None:
    s, now = _state(), _now()
    s.d = np.ones_like(s.d)  # every particle at failure: the RUL is already past
    rec = recommend(s, asset_id="p", kind="k", life_id=0, now=now, config=PrescribeConfig())
    assert rec.options[0].p_failure == pytest.approx(1.0)
    assert rec.chosen.plan == "replace_now"
    assert rec.expected_saving == pytest.approx(COSTS.failure - rec.chosen.expected_cost)
    assert rec.explanation.startswith("p: replace now;")


def test_zero_costs_do_nothing() -> None:
    zero = {k: 0.0 for k in ("planned_replacement", "unplanned_failure", "downtime_per_h",
                             "lost_production_per_pct_h")}
    rec = recommend(_state(), asset_id="p", kind="k", life_id=0, now=_now(),
                    config=PrescribeConfig(**zero))  # type: ignore[arg-type]
    assert all(o.expected_cost == 0.0 for o in rec.options)
    assert (rec.chosen.plan, rec.expected_saving) == ("as_is", 0.0)
    assert "run as is" in rec.explanation


def test_a_state_far_from_failure_runs_as_is() -> None:
    s = _state(damage=(0.0, 0.01), life_s=(2e7, 3e7), hours=10)
    rec = recommend(s, asset_id="p", kind="k", life_id=0, now=_now(10), config=PrescribeConfig())
    assert rec.options[0].p_failure == 0.0
    assert rec.chosen.plan == "as_is"


def test_the_previous_plan_is_kept_within_the_margin() -> None:
    opts = evaluate_plans(_state(), _now(), COSTS, derates=(0.6, 0.7), horizon_s=30 * 86400.0,
                          stop=_now() + timedelta(days=2))
    best = choose(opts)
    assert best.expected_cost == min(o.expected_cost for o in opts)
    other = sorted(opts, key=lambda o: o.expected_cost)[1]
    prev = (other.plan, other.load_fraction, None if other.plan in ("as_is", "replace_now")
            else other.until.timestamp(), 0.0)  # type: ignore[union-attr]
    share = 1 - best.expected_cost / other.expected_cost
    assert choose(opts, prev, share + 0.01) == other
    assert choose(opts, prev, share - 0.01) == best


def test_renewal_first_changed_or_due() -> None:
    cfg = PrescribeConfig()
    rec = recommend(_state(), asset_id="p", kind="k", life_id=0, now=_now(), config=cfg)
    assert renew(None, rec, cfg.refresh_s)
    mem = remembered(rec)
    later = replace(rec, timestamp=rec.timestamp + timedelta(hours=1))
    assert not renew(mem, later, cfg.refresh_s)
    assert renew(mem, replace(later, timestamp=rec.timestamp + timedelta(days=1)), cfg.refresh_s)
    changed = next(o for o in rec.options if o.plan != rec.chosen.plan)
    assert renew(mem, replace(later, chosen=changed), cfg.refresh_s)


def test_recommendations_are_deterministic_and_pure() -> None:
    s, cfg = _state(), PrescribeConfig()
    before = (s.d.copy(), s.theta.copy(), s.t_s)
    a = recommend(s, asset_id="p", kind="k", life_id=2, now=_now(), config=cfg)
    b = recommend(s, asset_id="p", kind="k", life_id=2, now=_now(), config=cfg)
    assert a == b
    assert np.array_equal(s.d, before[0]) and np.array_equal(s.theta, before[1]) and s.t_s == before[2]
    c = recommend(s, asset_id="p", kind="k", life_id=3, now=_now(), config=cfg)
    assert c.recommendation_id != a.recommendation_id


def test_kind_costs_override_the_defaults() -> None:
    assert parse_kind_costs(" pump : planned_replacement=4000, failure_downtime_h=10") == (
        "pump", {"planned_replacement": 4000.0, "failure_downtime_h": 10.0})
    cfg = PrescribeConfig(kind_costs=("pump: unplanned_failure=50000",))
    assert cfg.costs("pump").unplanned_failure == 50000.0
    assert cfg.costs("fan") == PlanCosts()


@pytest.mark.parametrize(("key", "value", "words"), [
    ("prescribe.kind_costs", "pump: planed_replacement=1", "planed_replacement"),
    ("prescribe.kind_costs", "pump: unplanned_failure=-3", "must be a number >= 0"),
    ("prescribe.kind_costs", "no colon", "'no colon'"),
    ("prescribe.kind_costs", "pump: planned_replacement", "expected key=value"),
    ("prescribe.stop_anchor", "next monday", "next monday"),
    ("prescribe.stop_dates", "2026-13-01", "2026-13-01"),
    # round 24: a zone shifting the date past year 1 or 9999 in UTC was an OverflowError (internal error)
    ("prescribe.stop_anchor", "0001-01-01T00:00:00+14:00", "outside years 1-9999 in UTC"),
    ("prescribe.stop_dates", "9999-12-31T23:00:00-14:00", "outside years 1-9999 in UTC"),
    ("prescribe.derates", "[0.7, 1.2]", "must be > 0 and < 1"),
    ("prescribe.horizon_s", "0", "prescribe.horizon_s"),
    ("prescribe.currency", "EUR 1", "prescribe.currency"),
])
def test_bad_prescription_settings_are_one_line_errors(key: str, value: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(env={}, overrides={key: value})
    assert words in str(err.value) and "\n" not in str(err.value)


def test_env_settings_reach_the_config() -> None:
    cfg = load_config(env={"TWIN_PRESCRIBE__DERATES": "[0.5, 0.9]", "TWIN_PRESCRIBE__CURRENCY": "USD"})
    assert (cfg.prescribe.derates, cfg.prescribe.currency) == ((0.5, 0.9), "USD")


def test_money_reads_like_a_person_writes_it() -> None:
    assert [money(x, "EUR") for x in (850.4, 18200.0, 1.25e6, -3000.0)] == [
        "EUR 850", "EUR 18k", "EUR 1.2M", "EUR -3k"]
    assert math.isfinite(COSTS.failure)


def test_the_previous_plan_is_not_kept_when_it_costs_more_than_as_is() -> None:
    t = T0
    as_is = PlanOption("as_is", None, None, 0.1, 10000.0)
    derate = PlanOption("derate", 0.7, t, 0.0, 10500.0)
    assert choose((as_is, derate), ("derate", 0.7, t.timestamp(), 0.0), 0.5) == as_is
    assert choose((as_is, replace(derate, expected_cost=9900.0)), ("as_is", None, None, 0.0), 0.5) == as_is

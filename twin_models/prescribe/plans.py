"""Candidate plans for a degrading asset, their expected costs, the choice (twin level 4).

From the asset's damage state (:class:`~twin_models.rul.damage.DamageState`) the twin runs a
what-if of each candidate plan over the decision window, from now to the next planned stop of
the maintenance calendar (:class:`MaintenanceCalendar`):

- ``as_is``: run as now; every failure within the horizon is unplanned, a survivor is replaced at
  a later planned stop: ``P(fail <= horizon) * C_fail + (1 - P) * C_planned``;
- ``derate``: load limited to ``f`` of rated until the stop, replaced there:
  ``P_f(fail <= stop) * C_fail + (1 - P_f) * C_planned`` plus the lost production
  (``% of rated load given up * hours until the stop * cost per %-hour``);
- ``replace_planned``: as now until the stop, replaced there (the derate with ``f = 1``);
- ``replace_now``: an unscheduled stop now, ``C_planned + downtime of a replacement``.

``C_fail`` is the unplanned failure's cost plus its downtime; a replacement at a planned stop
costs no downtime (the stop happens anyway). Without a planned stop within the horizon only
``as_is`` and ``replace_now`` are weighed. The least expected cost wins; ties go to the plan
that does the least (the order above). Everything is pure: plain values in, records out.

Loads are in the damage state's units: fractions of rated load when the load channel reads as
one (its reference load is 1), else relative to the load at the first evidence of damage (a
channel in kW or %: "derate to 70 %" then means 70 % of that load). A derate above the load the
asset runs at changes nothing and is not offered.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime

import numpy as np

from twin_models.prescribe.config import PlanCosts, PrescribeConfig
from twin_models.records import PlanKind, PlanOption, Recommendation
from twin_models.rul.damage import DamageState, weighted_quantiles
from twin_models.rul.profile import OperatingProfile

__all__ = ["PlanMemory", "choose", "evaluate_plans", "explain_plan", "money", "recommend",
           "recommendation_id", "remembered", "renew"]

_ORDER: dict[PlanKind, int] = {"as_is": 0, "derate": 1, "replace_planned": 2, "replace_now": 3}


def _p_fail(state: DamageState, profile: OperatingProfile, ahead_s: float, t_s: float,
            horizon_s: float, *, median: bool = True) -> tuple[float, float | None]:
    """P(failure within ``t_s`` from now) and the median RUL (None beyond the horizon): what
    :meth:`DamageState.forecast` gives for them (the same widened failure times), without its
    indicator trajectories (a recommendation weighs five plans every window: ~10x cheaper)."""
    w = state.weights
    fail = state.spread_failure_times(profile)
    fail = np.where(fail > ahead_s + horizon_s, math.inf, fail)
    p = float(w @ (fail <= ahead_s + t_s))
    if not median:
        return p, None
    mid = float(weighted_quantiles(fail, w, (0.5,))[0])
    return p, max(mid - ahead_s, 0.0) if math.isfinite(mid) else None


def evaluate_plans(state: DamageState, now: datetime, costs: PlanCosts, *, derates: tuple[float, ...],
                   horizon_s: float, stop: datetime | None) -> tuple[PlanOption, ...]:
    """Every candidate plan with its P(failure) and expected cost, from the state at ``now``."""
    ahead = 0.0 if state.t_s is None else max(now.timestamp() - state.t_s, 0.0)
    as_now = state.as_now()
    load, speed = as_now.load[0], as_now.speed_hz[0]
    p_h, rul = _p_fail(state, as_now, ahead, horizon_s, horizon_s)
    out = [PlanOption("as_is", None, None, p_h, p_h * costs.failure + (1 - p_h) * costs.planned_replacement,
                      rul)]
    stop_s = None if stop is None else (stop - now).total_seconds()
    if stop is not None and stop_s is not None and 0.0 < stop_s <= horizon_s:
        hours = stop_s / 3600.0
        for f in (*sorted(derates), 1.0):
            limit = min(load, f * state.reference_load)
            if f < 1.0 and limit >= load:
                continue  # the asset already runs below this limit: nothing changes
            profile = OperatingProfile((0.0, ahead + stop_s), (limit, load), (speed, speed), (20.0, 20.0),
                                       (1.0, 1.0))
            p, _ = _p_fail(state, profile, ahead, stop_s, horizon_s, median=False)
            lost = (load - limit) / state.reference_load * 100.0 * hours * costs.lost_production_per_pct_h
            cost = p * costs.failure + (1 - p) * costs.planned_replacement + lost
            if f < 1.0:
                out.append(PlanOption("derate", round(f, 4), stop, p, cost, None))
            else:
                out.append(PlanOption("replace_planned", None, stop, p, cost, None))
    now_cost = costs.planned_replacement + costs.downtime_per_h * costs.replacement_downtime_h
    out.append(PlanOption("replace_now", None, now, 0.0, now_cost, None))
    return tuple(out)


def money(amount: float, currency: str) -> str:
    """``EUR 18k``, ``EUR 850``, ``EUR 1.2M``."""
    sign, a = ("-" if amount < 0 else ""), abs(amount)
    if a >= 1e6:
        return f"{currency} {sign}{a / 1e6:.1f}M"
    if a >= 1e3:
        return f"{currency} {sign}{a / 1e3:.0f}k"
    return f"{currency} {sign}{a:.0f}"


def explain_plan(chosen: PlanOption, options: tuple[PlanOption, ...], saving: float, currency: str,
                 horizon_s: float) -> str:
    """One sentence: the plan, its risk against running as is, the expected saving."""
    planned = next((o for o in options if o.plan == "replace_planned"), None)
    as_is = options[0]
    save = f"expected saving {money(saving, currency)}"
    days = f"{horizon_s / 86400:g} d"
    stop = "" if planned is None or planned.until is None else f"{planned.until:%d %b %H:%M}"
    if chosen.plan == "derate" and planned is not None:
        return (f"derate to {chosen.load_fraction:.0%} load until the planned stop on {stop}, replace "
                f"then; P(failure before) {chosen.p_failure:.0%} vs {planned.p_failure:.0%} as is; {save}")
    if chosen.plan == "replace_planned":
        return (f"replace at the planned stop on {stop}; P(failure before) {chosen.p_failure:.0%}, "
                f"within {days} {as_is.p_failure:.0%} as is; {save}")
    if chosen.plan == "replace_now":
        before = (f"before the planned stop on {stop} {planned.p_failure:.0%}" if planned is not None
                  else f"within {days} {as_is.p_failure:.0%}")
        return f"replace now; P(failure) {before} as is; {save}"
    return f"run as is; P(failure within {days}) {as_is.p_failure:.0%}; no action pays off"


def recommendation_id(asset_id: str, life_id: int, at: datetime) -> str:
    """Deterministic id: the same asset, life and event time give the same id on a replay."""
    return hashlib.sha256(f"{asset_id}|{life_id}|{at.isoformat()}|rec".encode()).hexdigest()[:20]


def _key(o: PlanOption) -> tuple[str, float | None, float | None]:
    until = None if o.until is None or o.plan in ("as_is", "replace_now") else o.until.timestamp()
    return o.plan, o.load_fraction, until


def choose(options: tuple[PlanOption, ...], previous: PlanMemory | None = None,
           margin: float = 0.0) -> PlanOption:
    """The least expected cost (ties: the plan that does the least), unless the ``previous``
    plan is still an option, costs no more than running as is (``options[0]``), and the best is
    not cheaper than it by more than ``margin``."""
    best = min(options, key=lambda o: (round(o.expected_cost, 6), _ORDER[o.plan]))
    if previous is not None:
        kept = next((o for o in options if _key(o) == previous[:3]), None)
        if (kept is not None and best.expected_cost >= kept.expected_cost * (1.0 - margin)
                and kept.expected_cost <= options[0].expected_cost):  # never worse than as is
            return kept
    return best


def recommend(state: DamageState, *, asset_id: str, kind: str, life_id: int, now: datetime,
              config: PrescribeConfig, alert_id: str | None = None,
              previous: PlanMemory | None = None) -> Recommendation:
    """The recommended plan for one asset at ``now`` (event time), with every option weighed;
    ``previous`` (the last recommendation's :func:`remembered`) is kept within ``switch_margin``."""
    stop = config.calendar().next_stop(now)
    options = evaluate_plans(state, now, config.costs(kind), derates=config.derates,
                             horizon_s=config.horizon_s, stop=stop)
    chosen = choose(options, previous, config.switch_margin)
    saving = options[0].expected_cost - chosen.expected_cost
    text = explain_plan(chosen, options, saving, config.currency, config.horizon_s)
    return Recommendation(recommendation_id(asset_id, life_id, now), asset_id, kind, now, alert_id, chosen,
                          options, saving, config.currency, f"{asset_id}: {text}.")


PlanMemory = tuple[str, float | None, float | None, float]
"""What the twin remembers of its last recommendation: (plan, load fraction, until, time) in
seconds since the epoch (``until`` None for plans without one)."""


def remembered(rec: Recommendation) -> PlanMemory:
    """The memory of a recommendation just made."""
    return (*_key(rec.chosen), rec.timestamp.timestamp())


def renew(last: PlanMemory | None, rec: Recommendation, refresh_s: float) -> bool:
    """Whether ``rec`` is emitted: the first of a life, a changed plan, or ``refresh_s`` since."""
    if last is None:
        return True
    new = remembered(rec)
    return new[:3] != last[:3] or new[3] - last[3] >= refresh_s

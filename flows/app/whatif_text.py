"""A what-if result as a human table: the plan against running as now (``twin whatif``)."""

from __future__ import annotations

from datetime import datetime

from twin_models.records import PlanSegment, WhatIfOutcome, WhatIfResult

__all__ = ["duration", "render"]


def duration(seconds: float | None) -> str:
    """Seconds as hours (under 3 days) or days; None = beyond the horizon."""
    if seconds is None:
        return "beyond horizon"
    return f"{seconds / 3600:.1f} h" if seconds < 3 * 86400 else f"{seconds / 86400:.1f} d"


def _when(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%MZ")


def _plan(plan: tuple[PlanSegment, ...]) -> str:
    """The plan in words; a plan that changes nothing (``twin whatif`` without a plan flag) said
    plainly, not "as now (the rest as now)" (round 30, USER30)."""
    fields_given = any(v is not None for s in plan for v in (s.load, s.speed_hz, s.ambient_c, s.duty))
    if not fields_given:
        return "no change given (everything as now)"
    parts = []
    for s in plan:
        fields = (("load", s.load), ("speed", s.speed_hz), ("ambient", s.ambient_c), ("duty", s.duty))
        given = [f"{name} {v:g}" for name, v in fields if v is not None]
        text = ", ".join(given) or "as now"
        parts.append(text if s.start_s == 0.0 else f"from +{duration(s.start_s)}: {text}")
    return "; ".join(parts) + " (the rest as now)"


def _rows(sc: WhatIfOutcome, base: WhatIfOutcome) -> list[tuple[str, str, str]]:
    rows = [("RUL median", duration(sc.rul_median_s), duration(base.rul_median_s)),
            ("RUL 10 %", duration(sc.rul_p10_s), duration(base.rul_p10_s)),
            ("RUL 90 %", duration(sc.rul_p90_s), duration(base.rul_p90_s))]
    for (d, p), (_, q) in zip(sc.p_failure, base.p_failure, strict=True):
        rows.append((f"P(failure before {_when(d)})", f"{p:.0%}", f"{q:.0%}"))
    return rows


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.3g}"


def _trajectory(name: str, o: WhatIfOutcome) -> list[str]:
    lines = [f"  expected indicators, {name} (median):",
             "    time               indicator  failure feature  envelope line  temperature"]
    lines += [f"    {_when(p.at)}  {p.indicator:9.3f}  {_num(p.failure_feature):>15}  "
              f"{_num(p.envelope_line):>13}  {_num(p.temperature_c):>11}" for p in o.trajectory[::3]]
    return lines


def render(r: WhatIfResult) -> str:
    """The result as text: header, outcome table, trajectories."""
    head = f"what-if {r.asset_id} from {_when(r.timestamp)}, horizon {duration(r.horizon_s)}: {_plan(r.plan)}"
    if r.status != "ok" or r.scenario is None or r.baseline is None:
        # no_damage's reason says it in words (round 48: "no_damage: no damage evidence ..."); the
        # other statuses (a request's, on the Kafka path) keep their code before the reason
        said = r.reason if r.status == "no_damage" and r.reason else f"{r.status}: {r.reason}"
        lines = [head, f"  {said}"]
        dates = r.scenario.p_failure if r.scenario else ()
        lines += [f"  P(failure before {_when(d)}) = {p:.0%}" for d, p in dates]
        return "\n".join(lines)
    lines = [head, f"  damage now (median) {r.damage:.2f}, defect {r.defect or '-'}", "",
             f"  {'':34}{'plan':>16}{'as now':>16}"]
    lines += [f"  {a:34}{b:>16}{c:>16}" for a, b, c in _rows(r.scenario, r.baseline)]
    return "\n".join([*lines, "", *_trajectory("plan", r.scenario), *_trajectory("as now", r.baseline)])

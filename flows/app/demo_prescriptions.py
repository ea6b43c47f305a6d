"""The demo's prescription table: for every detected fault, the plan at detection and the
simulated outcome of following it vs running as is (issue 11, level 4)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flows.config.pipeline import PipelineConfig
from twin_models.evaluate.detection import FaultOutcome
from twin_models.evaluate.prescriptions import at_detection, follow, hours_between
from twin_models.prescribe import money
from twin_models.records import PlanOption, Recommendation
from twin_models.simulator.fleet import FleetConfig, fleet_metadata

__all__ = ["prescription_rows", "prescription_summary", "print_prescriptions"]


def _option_name(c: PlanOption) -> str:
    if c.plan == "derate" and c.load_fraction is not None:
        return f"derate {c.load_fraction:.0%}"
    return c.plan


def _plan_name(rec: Recommendation) -> str:
    return _option_name(rec.chosen)


def prescription_rows(faults: Sequence[FaultOutcome], recs: Sequence[Recommendation], fleet: FleetConfig,
                      cfg: PipelineConfig) -> list[dict[str, Any]]:
    """One row per detected fault: its recommendation at detection and the simulated outcomes."""
    meta = fleet_metadata(fleet)
    rows = []
    for f in faults:
        if f.detected_at is None:
            continue
        rec = at_detection(f, recs)
        row: dict[str, Any] = {"asset_id": f.asset_id, "recommended": rec is not None}
        if rec is not None:
            costs = cfg.prescribe.costs(meta[f.asset_id].kind if f.asset_id in meta else "")
            out = follow(fleet, rec, costs)
            fail_as_is, fail_plan = out.as_is.baseline_failure_at, out.followed.failure_at
            row.update({
                "at": rec.timestamp.isoformat(), "plan": _plan_name(rec),
                "until": None if rec.chosen.until is None else rec.chosen.until.isoformat(),
                "p_failure_plan": round(rec.chosen.p_failure, 3),
                "p_failure_as_is": round(rec.options[0].p_failure, 3),
                "failure_as_is_h": hours_between(rec.timestamp, fail_as_is),
                "failure_plan_h": hours_between(rec.timestamp, fail_plan),
                "avoided": out.followed.avoided,
                "expected_cost": round(out.expected_cost),
                "expected_as_is_cost": round(out.expected_as_is_cost),
                "simulated_cost": round(out.simulated_cost),
                "simulated_as_is_cost": round(out.simulated_as_is_cost),
                "hindsight_plan": _option_name(out.hindsight), "hindsight_cost": round(out.hindsight_cost),
                "currency": rec.currency, "explanation": rec.explanation,
            })
        rows.append(row)
    return rows


def prescription_summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Counts and totals over the detected faults' recommendations."""
    done = [r for r in rows if r["recommended"]]
    fails = [r for r in done if r["failure_as_is_h"] is not None]
    return {
        "detected": len(rows), "recommended": len(done),
        "fail_as_is": len(fails), "avoided": sum(r["avoided"] for r in fails),
        "plans": {p: sum(r["plan"] == p for r in done) for p in sorted({r["plan"] for r in done})},
        "expected_cost": sum(r["expected_cost"] for r in done),
        "expected_as_is_cost": sum(r["expected_as_is_cost"] for r in done),
        "simulated_cost": sum(r["simulated_cost"] for r in done),
        "simulated_as_is_cost": sum(r["simulated_as_is_cost"] for r in done),
        "hindsight_cost": sum(r["hindsight_cost"] for r in done),
        "hindsight_plans": {p: sum(r["hindsight_plan"] == p for r in done)
                            for p in sorted({r["hindsight_plan"] for r in done})},
    }


def _when(h: float | None) -> str:
    return "none in run" if h is None else f"{h} h"


def print_prescriptions(rows: Sequence[dict[str, Any]], s: dict[str, Any]) -> None:
    """The table and its totals, under the fault table."""
    if not rows:
        return
    print("\n  asset      plan at detection     P(fail) plan/as is  failure as is  with plan              "
          "cost expected (as is)    simulated (as is)     best in hindsight")
    for r in rows:
        if not r["recommended"]:
            print(f"  {r['asset_id']:<10} no recommendation")
            continue
        cur = r["currency"]
        plan = f"{_when(r['failure_plan_h'])}{' (avoided)' if r['avoided'] else ''}"
        p = f"{r['p_failure_plan']:.0%} / {r['p_failure_as_is']:.0%}"
        exp = f"{money(r['expected_cost'], cur)} ({money(r['expected_as_is_cost'], cur)})"
        sim = f"{money(r['simulated_cost'], cur)} ({money(r['simulated_as_is_cost'], cur)})"
        best = f"{r['hindsight_plan']} {money(r['hindsight_cost'], cur)}"
        print(f"  {r['asset_id']:<10} {r['plan']:<21} {p:<19} {_when(r['failure_as_is_h']):<14} "
              f"{plan:<22} {exp:<24} {sim:<21} {best}")
    cur = next((r["currency"] for r in rows if r["recommended"]), "")
    print(f"  prescriptions: {s['recommended']}/{s['detected']} detected faults got one; following them "
          f"avoids {s['avoided']}/{s['fail_as_is']} failures in simulation; cost expected "
          f"{money(s['expected_cost'], cur)} vs {money(s['expected_as_is_cost'], cur)} as is, simulated "
          f"{money(s['simulated_cost'], cur)} vs {money(s['simulated_as_is_cost'], cur)} "
          f"(best in hindsight {money(s['hindsight_cost'], cur)})")

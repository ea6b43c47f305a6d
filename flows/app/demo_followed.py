"""``twin demo --follow-plans``: the detected faults' plans followed in a second simulated run.

The first pass recommends; each detected fault's recommendation at detection
(:func:`~twin_models.evaluate.prescriptions.at_detection`) becomes a
:class:`~twin_models.simulator.actions.PlanAction` in ``FleetConfig.plans``, and the same fleet
runs again, through the same dataflow, into ``<out>/followed``. The telemetry before a plan's
start is the first pass's, so the twin reaches the same state there; after it, the asset runs
derated or is replaced. Per fault: the failure in the followed run's ground truth against the
unplanned one and against :func:`~twin_models.simulator.plans.plan_outcome`'s prediction, the
twin's alerts on that asset after the plan's start, and its damage RUL at the plan's start and
at the last window of the bearing's life under the plan.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from flows.app.demo import DemoResult, run_fleet
from flows.app.out_dir import RunOutputs, prepare_out, refuse_linked_folders
from flows.app.out_held import as_given
from flows.app.out_manifest import Manifest
from flows.archive.files import printable
from flows.config.pipeline import PipelineConfig
from flows.dataflow.sinks.archive import new_run_id
from twin_models.evaluate.detection import FaultOutcome
from twin_models.evaluate.prescriptions import at_detection, followed_action, hours_between
from twin_models.records import Recommendation, TwinSnapshot
from twin_models.simulator.fleet import FleetConfig, ground_truth
from twin_models.simulator.plans import PlanAction, plan_outcome

__all__ = ["FOLLOWED_DIR", "followed_identity", "followed_plans", "print_followed", "run_followed"]

FOLLOWED_DIR = "followed"
"""The second pass's archive folder, under ``--out``."""


def followed_plans(faults: Sequence[FaultOutcome], recs: Sequence[Recommendation],
                   ) -> list[tuple[Recommendation, PlanAction]]:
    """Every detected fault's recommendation at detection and the action that follows it
    (one per asset: the first detected fault's)."""
    out: dict[str, tuple[Recommendation, PlanAction]] = {}
    for f in faults:
        rec = at_detection(f, recs)
        if rec is not None and f.asset_id not in out:
            out[f.asset_id] = (rec, followed_action(rec))
    return list(out.values())


def _plan_end(a: PlanAction, failure: datetime | None) -> datetime | None:
    ends = [t for t in (a.until if a.load_fraction is not None else None, a.replace_at, failure)
            if t is not None]
    return min(ends) if ends else None


def _rul_h(snaps: Sequence[TwinSnapshot], asset_id: str, before: datetime | None,
           ) -> tuple[float | None, datetime | None]:
    """The damage RUL (h) of the asset's last first-life window with a damage state before
    ``before`` (None: to the end), and that window's time."""
    mine = [s for s in snaps if s.asset_id == asset_id and s.life_id == 0 and s.damage is not None
            and (before is None or s.timestamp <= before)]
    if not mine:
        return None, None
    last = max(mine, key=lambda s: s.timestamp)
    rul = None if last.damage_rul_s is None else round(last.damage_rul_s / 3600, 1)
    return rul, last.timestamp


def _row(fleet: FleetConfig, rec: Recommendation, action: PlanAction, res: DemoResult,
         ) -> dict[str, Any]:
    predicted = plan_outcome(dataclasses.replace(fleet, plans=()), action)
    truth = next(t for t in ground_truth(fleet) if t.asset_id == action.asset_id and t.life_id == 0)
    base = predicted.baseline_failure_at
    alerts = {a.alert_id: a.started_at for a in res.alerts if a.asset_id == action.asset_id}
    rul_start, _ = _rul_h(res.snapshots, action.asset_id, action.at)
    rul_after, after_at = _rul_h(res.snapshots, action.asset_id, _plan_end(action, truth.failure_at))
    name = rec.chosen.plan if rec.chosen.load_fraction is None or rec.chosen.plan != "derate" \
        else f"derate {rec.chosen.load_fraction:.0%}"
    return {
        "asset_id": action.asset_id, "plan": name, "at": action.at.isoformat(),
        "load_fraction": action.load_fraction,
        "until": None if action.until is None else action.until.isoformat(),
        "replace_at": None if action.replace_at is None else action.replace_at.isoformat(),
        "failure_as_is_h": hours_between(action.at, base),
        "failure_followed_h": hours_between(action.at, truth.failure_at),
        "failure_predicted_h": hours_between(action.at, predicted.failure_at),
        "as_predicted": truth.failure_at == predicted.failure_at,
        "avoided": base is not None and truth.failure_at is None,
        "delayed_h": None if base is None or truth.failure_at is None
        else hours_between(base, truth.failure_at),
        "alerts": len(alerts),
        "alerts_after_start": sum(t >= action.at for t in alerts.values()),
        "damage_rul_at_start_h": rul_start,
        "damage_rul_after_h": rul_after,
        "damage_rul_after_at": None if after_at is None else after_at.isoformat(),
    }


def followed_identity(identity: str, plans: Sequence[PlanAction]) -> str:
    """What decides the second pass's rows: the first pass's (``identity``:
    :func:`flows.app.demo.demo_identity`) and the ``plans`` it follows (round 36: its rerun into
    the same ``followed`` folder warned "results will be mixed", though it wrote the same rows)."""
    text = json.dumps(["followed", identity, [dataclasses.asdict(a) for a in plans]], default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_followed(fleet: FleetConfig, recs: Sequence[Recommendation], res: DemoResult,
                 cfg: PipelineConfig, out: Path, *, workers: int, progress: bool, fresh: bool,
                 identity: str | None = None) -> dict[str, Any]:
    """Follow the first pass's plans in a second run into ``out/followed``; its summary.
    ``identity``: the first pass's (:func:`flows.app.demo.demo_identity`); with it, a rerun of the
    same command gets the first pass's note rather than the mixing warning (:func:`prepare_out`).
    Its lines name ``out`` as the command was given it (``out`` may be the held ``--out``'s path)."""
    pairs = followed_plans(res.report.faults, recs)
    where = out / FOLLOWED_DIR
    summary: dict[str, Any] = {"out": as_given(where), "plans": len(pairs), "faults": []}
    if not pairs:
        return summary
    planned = dataclasses.replace(fleet, plans=tuple(a for _, a in pairs))
    refuse_linked_folders(out, (FOLLOWED_DIR,))  # planted since the start: --fresh would delete through it
    where.mkdir(parents=True, exist_ok=True)
    mine = None if identity is None else followed_identity(identity, planned.plans)
    prepare_out(where, where, ("dead_letters*.jsonl",), fresh=fresh, identity=mine)
    run = RunOutputs(new_run_id())
    # held while it runs: a link put at followed/ meanwhile is never written through (round 40)
    second = run_fleet(planned, cfg, where, workers=workers, progress=progress, run=run,
                       linked=lambda: refuse_linked_folders(out, (FOLLOWED_DIR,)))
    if mine is not None:  # finished: its rows are those of its identity (stopped before: a mix is warned)
        Manifest.read(where).record_run(run.run_id, mine)
    rows = [_row(planned, rec, action, second) for rec, action in pairs]
    failing = [r for r in rows if r["failure_as_is_h"] is not None]
    summary.update({
        "faults": rows, "fail_as_is": len(failing), "avoided": sum(r["avoided"] for r in failing),
        "delayed": sum(r["delayed_h"] is not None and r["delayed_h"] > 0 for r in failing),
        "as_predicted": sum(r["as_predicted"] for r in rows),
        "alert_messages": len(second.alerts),
        "false_alerts": second.report.false_alerts,
        "faults_detected": second.report.detected, "faults_injected": len(second.report.faults),
        "seconds": round(second.seconds, 2),
    })
    return summary


def _h(v: float | None, none: str = "none in run") -> str:
    return none if v is None else f"{v} h"


def print_followed(s: dict[str, Any]) -> None:
    """The followed-plans table and its totals, after the prescription table."""
    # round 37: --out's escape drove the terminal here (the demo's own lines escaped it since round 24)
    print(f"\n  plans followed in a second run ({s['plans']}), archive {printable(s['out'])}:")
    if not s["faults"]:
        print("  no detected fault had a recommendation: nothing to follow")
        return
    print("  asset      plan followed         failure as is  followed run           predicted      "
          "alerts (after)  damage RUL at start -> after")
    for r in s["faults"]:
        got = _h(r["failure_followed_h"]) + (" (avoided)" if r["avoided"] else "")
        if r["delayed_h"]:
            got += f" (+{r['delayed_h']} h)"
        pred = _h(r["failure_predicted_h"]) + ("" if r["as_predicted"] else " (differs)")
        alerts = f"{r['alerts']} ({r['alerts_after_start']})"
        rul = f"{_h(r['damage_rul_at_start_h'], 'n/a')} -> {_h(r['damage_rul_after_h'], 'n/a')}"
        print(f"  {r['asset_id']:<10} {r['plan']:<21} {_h(r['failure_as_is_h']):<14} {got:<22} "
              f"{pred:<14} {alerts:<15} {rul}")
    print(f"  followed: {s['avoided']}/{s['fail_as_is']} failures avoided, {s['delayed']} delayed, "
          f"{s['as_predicted']}/{len(s['faults'])} as plan_outcome predicted; the twin raised "
          f"{s['alert_messages']} alert messages, {s['false_alerts']} false alerts, detected "
          f"{s['faults_detected']}/{s['faults_injected']} faults ({s['seconds']:.1f} s)")

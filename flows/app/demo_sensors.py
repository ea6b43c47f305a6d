"""The demo's sensor-fault part (issue 13): the simulator's sensor faults against the run's alerts.

``twin demo --sensor-faults SHARE`` (default ``DEMO_SENSOR_FAULTS`` in :mod:`flows.cli.main`, 0:
off) injects sensor faults (:mod:`twin_models.simulator.sensor_faults`);
the summary then says how many the data-quality checks' sensor alerts found (per kind, with the
delay), the false sensor alerts on clean channels, and the condition alerts that started during a
sensor fault while the machine was healthy: the alerts gating a bad channel should avoid. How
many gating DOES avoid needs the same seed run with gating on and off; this summary does not
claim it. Scoring is :func:`twin_models.evaluate.sensor_faults.evaluate_sensor_faults`.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from twin_models.evaluate.sensor_faults import evaluate_sensor_faults
from twin_models.records import Alert
from twin_models.simulator.fleet import SENSORS, FleetConfig, ground_truth, sensor_fault_truth
from twin_models.simulator.sensor_faults import SensorFaultTruth

__all__ = ["AlertView", "print_sensor_faults", "sensor_fault_summary", "truth_from_json", "truth_to_json"]


@dataclass(frozen=True)
class AlertView:
    """An alert as the scorer sees it (``channel``/``check``: '' on a condition alert), from an
    :class:`~twin_models.records.Alert` (the demo) or an alert message's JSON (a Kafka run)."""

    asset_id: str
    kind: str
    status: str
    started_at: datetime
    timestamp: datetime
    channel: str
    check: str

    @classmethod
    def of(cls, a: Alert) -> AlertView:
        """The view of an alert record."""
        return cls(a.asset_id, a.kind, a.status, a.started_at, a.timestamp, a.channel, a.check)

    @classmethod
    def from_message(cls, doc: Mapping[str, Any]) -> AlertView:
        """The view of an alert message (the alerts topic's JSON, already parsed)."""
        return cls(doc["asset_id"], doc["kind"], doc["status"], datetime.fromisoformat(doc["started_at"]),
                   datetime.fromisoformat(doc["timestamp"]), doc.get("channel") or "", doc.get("check") or "")


def truth_to_json(t: SensorFaultTruth) -> dict[str, Any]:
    """One sensor fault's ground truth as the truth file holds it (``twin simulate --write-truth``)."""
    return {"asset_id": t.asset_id, "channel": t.channel, "kind": t.kind, "scope": t.scope,
            "start": t.start.isoformat(), "end": t.end.isoformat(), "checks": list(t.checks),
            "detail": t.detail, "during_machine_fault": t.during_machine_fault}


def truth_from_json(doc: Mapping[str, Any]) -> SensorFaultTruth:
    """The ground truth of one sensor fault of a truth file (the inverse of :func:`truth_to_json`)."""
    return SensorFaultTruth(doc["asset_id"], doc["channel"], doc["kind"],
                            datetime.fromisoformat(doc["start"]), datetime.fromisoformat(doc["end"]),
                            tuple(doc["checks"]), doc["detail"], doc["during_machine_fault"],
                            doc.get("scope", "channel"))


def _h(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600.0, 1)


def sensor_fault_summary(fleet: FleetConfig, alerts: Sequence[Alert]) -> dict[str, Any]:
    """The sensor-fault figures of a demo run as plain data."""
    truths = sensor_fault_truth(fleet)
    run_end = fleet.start + timedelta(days=fleet.days)
    rep = evaluate_sensor_faults(truths, ground_truth(fleet), [AlertView.of(a) for a in alerts], run_end,
                                 channels=[s.channel for s in SENSORS])
    delays = [f.delay_s / 3600.0 for f in rep.faults if f.delay_s is not None]
    return {
        "fraction": fleet.sensor_fault_fraction,
        "injected": len(rep.faults),
        "detected": rep.detected,
        "by_kind": {k: {"detected": d, "injected": n} for k, (d, n) in rep.by_kind().items()},
        "median_delay_h": round(statistics.median(delays), 1) if delays else None,
        "sensor_alerts": rep.sensor_alerts,
        "false_sensor_alerts": rep.false_sensor_alerts,
        "clean_channel_months": round(rep.clean_channel_months, 2),
        "false_sensor_alerts_per_channel_month": round(rep.false_per_channel_month, 3),
        "other_check_alerts": rep.other_check,
        "collateral_sensor_alerts": rep.collateral,
        "condition_alerts_during_sensor_faults": rep.condition_during_healthy,
        "condition_alerts_during_sensor_faults_on_faulty_machines": rep.condition_during_machine_fault,
        "table": [
            {"asset_id": f.asset_id, "channel": f.channel, "kind": f.kind, "detail": t.detail,
             "start": f.start.isoformat(), "end": f.end.isoformat(), "checks": list(f.checks),
             "machine_faulty": f.machine_faulty,
             "detected_at": None if f.detected_at is None else f.detected_at.isoformat(),
             "check": f.check, "delay_h": _h(f.delay_s), "condition_alerts": f.condition_alerts}
            for f, t in zip(rep.faults, truths, strict=True)
        ],
    }


def print_sensor_faults(s: dict[str, Any]) -> None:
    """The human-readable lines (nothing when no sensor fault was injected and none alerted)."""
    if not s["injected"] and not s["sensor_alerts"]:
        return
    kinds = ", ".join(f"{k} {v['detected']}/{v['injected']}" for k, v in s["by_kind"].items())
    delay = "" if s["median_delay_h"] is None else f"; median delay {s['median_delay_h']} h"
    print(f"\n  sensor faults injected: {s['injected']}, detected by a data-quality check: "
          f"{s['detected']}" + (f" ({kinds}){delay}" if kinds else ""))
    print(f"  sensor alerts: {s['sensor_alerts']}, false on clean channels: {s['false_sensor_alerts']} "
          f"({s['false_sensor_alerts_per_channel_month']} per channel-month over "
          f"{s['clean_channel_months']}), other check {s['other_check_alerts']}, on another channel "
          f"of a faulty sensor's asset {s['collateral_sensor_alerts']}")
    print(f"  condition alerts during sensor faults: {s['condition_alerts_during_sensor_faults']} on "
          f"healthy machines (gating should avoid them), "
          f"{s['condition_alerts_during_sensor_faults_on_faulty_machines']} during real faults")
    if not s["table"]:
        return
    print("\n  asset      channel      sensor fault  start             hours  expected    "
          "detected (delay)     condition alerts  what it reported")
    for f in s["table"]:
        hours = (datetime.fromisoformat(f["end"]) - datetime.fromisoformat(f["start"])).total_seconds() / 3600
        got = "missed" if f["detected_at"] is None else f"{f['check']} ({f['delay_h']} h)"
        kind = f["kind"] + (" *" if f["machine_faulty"] else "")
        print(f"  {f['asset_id']:<10} {f['channel']:<12} {kind:<13} {f['start'][:16]:<17} {hours:>5.1f}  "
              f"{'/'.join(f['checks']):<11} {got:<20} {f['condition_alerts']:<17} {f['detail']}")
    print("  (* during a real bearing fault of the machine: on a scalar channel, not the vibration)")

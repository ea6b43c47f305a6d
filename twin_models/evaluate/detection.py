"""Score a run against ground truth: fault detections, lead times, false alerts, RUL error.

A fault is *detected* when an alert episode of its asset starts between the fault's onset and its
failure (or the end of the run). An alert episode that starts while the asset is healthy (before
the onset of its life's fault, or in a life without a fault) is a *false alert*. Healthy exposure
is the time each asset spent healthy, so the false-alert rate is per asset-month (30 days).
Sensor alerts (``kind == "sensor"``) are left out: they are about a channel, not the machine.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from twin_models.records import Alert, TwinSnapshot

__all__ = ["DetectionReport", "FaultOutcome", "LifeLike", "evaluate_detection", "life_end"]

MONTH_S = 30 * 86400.0


class LifeLike(Protocol):
    """What evaluation needs of one life's ground truth (see ``simulate.LifeTruth``)."""

    @property
    def asset_id(self) -> str: ...
    @property
    def life_id(self) -> int: ...
    @property
    def installed_at(self) -> datetime: ...
    @property
    def fault_kind(self) -> str | None: ...
    @property
    def fault_onset(self) -> datetime | None: ...
    @property
    def failure_at(self) -> datetime | None: ...


@dataclass(frozen=True)
class FaultOutcome:
    """What happened to one injected fault."""

    asset_id: str
    life_id: int
    fault_kind: str
    onset: datetime
    failure_at: datetime | None
    detected_at: datetime | None
    lead_time_s: float | None
    rul_at_detection_s: float | None
    true_rul_at_detection_s: float | None
    diagnosed: str | None


@dataclass(frozen=True)
class DetectionReport:
    """Summary of a run."""

    faults: tuple[FaultOutcome, ...]
    false_alerts: int
    healthy_asset_months: float

    @property
    def detected(self) -> int:
        """Faults detected before failure (or before the end of the run)."""
        return sum(f.detected_at is not None for f in self.faults)

    @property
    def false_alerts_per_asset_month(self) -> float:
        """False alert episodes per asset-month of healthy operation."""
        return self.false_alerts / self.healthy_asset_months if self.healthy_asset_months else 0.0


def life_end(lives: Sequence[LifeLike], i: int, run_end: datetime) -> datetime:
    """When life ``i`` ends: the asset's next install, else the end of the run."""
    life = lives[i]
    nxt = [x for x in lives if x.asset_id == life.asset_id and x.installed_at > life.installed_at]
    return min((x.installed_at for x in nxt), default=run_end)


def evaluate_detection(
    lives: Sequence[LifeLike],
    alerts: Iterable[Alert],
    snapshots: Iterable[TwinSnapshot],
    run_end: datetime,
) -> DetectionReport:
    """Match condition alert episodes (their ``raised`` message) against the ground truth lives;
    sensor alerts (``kind == "sensor"``, issue 13) say nothing about the machine and are scored
    by :mod:`twin_models.evaluate.sensor_faults`."""
    alerts = [a for a in alerts if a.kind != "sensor"]
    raised = sorted((a for a in alerts if a.status == "raised"), key=lambda a: a.timestamp)
    defects = {a.alert_id: a.defect for a in sorted(alerts, key=lambda a: a.sequence) if a.defect}
    snaps = {(s.asset_id, s.timestamp): s for s in snapshots}
    outcomes, false_alerts, healthy_s = [], 0, 0.0
    for i, life in enumerate(lives):
        end = life_end(lives, i, run_end)
        healthy_until = life.fault_onset or life.failure_at or end
        healthy_s += max((min(healthy_until, end) - life.installed_at).total_seconds(), 0.0)
        mine = [a for a in raised if a.asset_id == life.asset_id and life.installed_at <= a.started_at < end]
        false_alerts += sum(a.started_at < healthy_until for a in mine)
        if life.fault_kind is None or life.fault_onset is None:
            continue
        stop = life.failure_at or end
        hits = (a for a in mine if life.fault_onset <= a.started_at <= stop and a.timestamp <= stop)
        hit = next(hits, None)
        outcomes.append(_outcome(life, hit, snaps, defects.get(hit.alert_id) if hit else None))
    return DetectionReport(tuple(outcomes), false_alerts, healthy_s / MONTH_S)


def _outcome(
    life: LifeLike,
    hit: Alert | None,
    snaps: dict[tuple[str, datetime], TwinSnapshot],
    defect: str | None,
) -> FaultOutcome:
    assert life.fault_kind is not None and life.fault_onset is not None  # noqa: S101
    lead = rul = true_rul = None
    if hit is not None and life.failure_at is not None:
        lead = (life.failure_at - hit.timestamp).total_seconds()
        true_rul = lead
        snap = snaps.get((hit.asset_id, hit.timestamp))
        rul = snap.rul_s if snap is not None else hit.rul_s
    return FaultOutcome(
        asset_id=life.asset_id,
        life_id=life.life_id,
        fault_kind=life.fault_kind,
        onset=life.fault_onset,
        failure_at=life.failure_at,
        detected_at=hit.timestamp if hit else None,
        lead_time_s=lead,
        rul_at_detection_s=rul,
        true_rul_at_detection_s=true_rul,
        diagnosed=defect,
    )
